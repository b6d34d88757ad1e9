"""Fine-tune Faster R-CNN on a small COCO-format dataset (pedestrians)."""
import json
import os
import random

import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import functional as TF


class CocoDetection(Dataset):
    def __init__(self, root, ann_file, train=True):
        self.root = root
        coco = json.load(open(ann_file))
        self.images = coco["images"]
        self.anns = {}
        for a in coco["annotations"]:
            self.anns.setdefault(a["image_id"], []).append(a)
        self.train = train

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        info = self.images[i]
        img = TF.to_tensor(Image.open(os.path.join(self.root, info["file_name"])).convert("RGB"))
        anns = self.anns.get(info["id"], [])
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        labels = torch.ones(len(anns), dtype=torch.int64)
        if self.train and random.random() < 0.5:
            img = img.flip(-1)
            boxes[:, [0, 2]] = img.shape[-1] - boxes[:, [2, 0]]
        return img, {"boxes": boxes, "labels": labels}


def collate(batch):
    return tuple(zip(*batch))


if __name__ == "__main__":
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ds = CocoDetection("PennFudanPed/images", "PennFudanPed/train.json")
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate, num_workers=0, pin_memory=True, generator=g)
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(pretrained_backbone=True, num_classes=2).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.1)
    for epoch in range(10):
        model.train()
        running = torch.zeros((), device=device)
        for images, targets in loader:
            images = [img.to(device, non_blocking=True) for img in images]
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
            loss_dict = model(images, targets)
            losses = sum(loss for loss in loss_dict.values())
            optimizer.zero_grad(set_to_none=True)
            losses.backward()
            optimizer.step()
            running += losses.detach()
        scheduler.step()
        print(f"epoch {epoch}: loss {running.item() / len(loader):.4f}")
        torch.save(model.state_dict(), f"frcnn_epoch{epoch}.pt")
