"""Batch inference: classify every image under a folder with an exported state_dict."""
import argparse
import json
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import models, transforms


class ImageFiles(Dataset):
    def __init__(self, root, tf):
        self.paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        self.tf = tf

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.tf(Image.open(self.paths[i]).convert("RGB")), str(self.paths[i])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--weights", default="efficientnet_b0_finetuned.pt")
    parser.add_argument("--classes", default="classes.json")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    classes = json.loads(Path(args.classes).read_text())
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = DataLoader(ImageFiles(args.folder, tf), batch_size=64, num_workers=4, pin_memory=device.type == "cuda")

    model = models.efficientnet_b0(num_classes=len(classes))
    model.load_state_dict(torch.load(args.weights, map_location=device, weights_only=True))
    model.to(device).eval()

    results = []
    with torch.inference_mode():
        for images, paths in loader:
            probs = torch.softmax(model(images.to(device, non_blocking=True)), dim=1)  # (B, C)
            top_p, top_i = probs.topk(args.top_k, dim=1)
            for path, ps, idxs in zip(paths, top_p.cpu().tolist(), top_i.cpu().tolist()):
                results.append({"path": path, "top": [[classes[i], round(p, 4)] for p, i in zip(ps, idxs)]})
    Path("predictions.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {len(results)} predictions")


if __name__ == "__main__":
    main()
