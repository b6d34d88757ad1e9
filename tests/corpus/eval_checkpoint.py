"""Evaluate a trained classifier checkpoint on a test folder and write per-image predictions to CSV."""
import argparse
import csv

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from models import build_classifier


def predict(model, loader, device):
    all_logits, all_paths = [], []
    for batch_idx, (images, _) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        logits = model(images)
        all_logits.append(logits)
        start = batch_idx * loader.batch_size
        all_paths.extend(p for p, _ in loader.dataset.samples[start:start + images.size(0)])
    return torch.cat(all_logits), all_paths


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="data/test")
    parser.add_argument("--arch", default="convnext_tiny")
    parser.add_argument("--out", default="predictions.csv")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([
        transforms.Resize(236), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    dataset = datasets.ImageFolder(args.data, tf)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False, num_workers=8, pin_memory=True)

    ckpt = torch.load(args.checkpoint, map_location=device)
    model = build_classifier(args.arch, num_classes=len(dataset.classes))
    model.load_state_dict(ckpt["model"])
    model.to(device)

    logits, paths = predict(model, loader, device)
    probs = F.softmax(logits, dim=1)
    conf, pred = probs.max(dim=1)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "confidence"])
        for path, p, c in zip(paths, pred.tolist(), conf.tolist()):
            writer.writerow([path, dataset.classes[p], f"{c:.4f}"])
    targets = torch.tensor(dataset.targets, device=device)
    print(f"top-1 accuracy: {(pred == targets).float().mean().item():.4f}")


if __name__ == "__main__":
    main()
