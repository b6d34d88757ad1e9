"""Evaluate a trained detector checkpoint on the COCO val split and dump predictions to JSON."""
import argparse
import json

import torch
from torch.utils.data import DataLoader
from torchvision.datasets import CocoDetection
from torchvision.models.detection import fasterrcnn_resnet50_fpn_v2
from torchvision.transforms import functional as TF


class CocoForEval(CocoDetection):
    def __getitem__(self, idx):
        img, _ = super().__getitem__(idx)
        return TF.to_tensor(img), self.ids[idx]


def collate(batch):
    return tuple(zip(*batch))


@torch.inference_mode()
def predict(model, loader, device, score_thresh=0.05):
    model.eval()
    results = []
    for images, image_ids in loader:
        images = [im.to(device) for im in images]
        outputs = model(images)
        for img_id, out in zip(image_ids, outputs):
            keep = out["scores"] > score_thresh
            for box, score, label in zip(out["boxes"][keep], out["scores"][keep], out["labels"][keep]):
                x1, y1, x2, y2 = box.tolist()
                results.append({"image_id": int(img_id), "category_id": int(label),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--coco", default="/datasets/coco")
    ap.add_argument("--out", default="detections_val2017.json")
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model = fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)
    checkpoint = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["model"])
    model.to(device)

    ds = CocoForEval(f"{args.coco}/val2017", f"{args.coco}/annotations/instances_val2017.json")
    loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=args.workers, collate_fn=collate)
    results = predict(model, loader, device)
    with open(args.out, "w") as f:
        json.dump(results, f)
    print(f"wrote {len(results)} detections for {len(ds)} images to {args.out}")

    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        print("pycocotools not installed: skipping mAP")
        return
    gt = COCO(f"{args.coco}/annotations/instances_val2017.json")
    dt = gt.loadRes(args.out)
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()


if __name__ == "__main__":
    main()
