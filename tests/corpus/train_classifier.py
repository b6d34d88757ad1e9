#!/usr/bin/env python3
"""Generic image-classification trainer (timm-like CLI): AMP, EMA-free, NaN guard, resumable."""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms

parser = argparse.ArgumentParser()
parser.add_argument("data_dir")
parser.add_argument("--model", default="resnet50")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--lr", type=float, default=0.5)
parser.add_argument("--workers", type=int, default=8)
parser.add_argument("--amp", action="store_true")
parser.add_argument("--resume", default="")
parser.add_argument("--seed", type=int, default=42)


def main():
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    tf = transforms.Compose([transforms.RandomResizedCrop(176), transforms.RandomHorizontalFlip(),
                             transforms.TrivialAugmentWide(), transforms.ToTensor()])
    train_set = datasets.ImageFolder(os.path.join(args.data_dir, "train"), tf)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        pin_memory=device.type == "cuda", drop_last=True, generator=g, persistent_workers=True)

    model = getattr(models, args.model)(num_classes=len(train_set.classes)).to(device)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=2e-5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp)
    start_epoch = 0
    if args.resume:
        ckpt = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["lr_scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch = ckpt["epoch"] + 1

    for epoch in range(start_epoch, args.epochs):
        model.train()
        for step, (images, targets) in enumerate(loader):
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=args.amp):
                loss = criterion(model(images), targets)
            if not math.isfinite(loss.item()):
                print(f"loss is {loss.item()}, stopping training")
                sys.exit(1)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}/{len(loader)} loss {loss.item():.4f}")
        scheduler.step()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "lr_scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch},
                   f"checkpoint_{epoch}.pth")


if __name__ == "__main__":
    main()
