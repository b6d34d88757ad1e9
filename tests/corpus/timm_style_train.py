#!/usr/bin/env python3
"""ImageNet-style training script with resume support (timm-like layout, trimmed)."""
import argparse
import os
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

parser = argparse.ArgumentParser(description="Image classification training")
parser.add_argument("data_dir")
parser.add_argument("--epochs", type=int, default=90)
parser.add_argument("--batch-size", type=int, default=256)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--workers", type=int, default=8)
parser.add_argument("--resume", default="", help="path to latest checkpoint")
parser.add_argument("--output", default="./output")
parser.add_argument("--seed", type=int, default=42)


class SmallConvNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, 3, 2, 1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 256, 3, 2, 1), nn.BatchNorm2d(256), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(256, num_classes), nn.Softmax(dim=1))

    def forward(self, x):
        return self.classifier(self.features(x))


def train_one_epoch(model, loader, criterion, optimizer, device, epoch):
    model.train()
    t0 = time.time()
    loss_sum = torch.zeros((), device=device)
    for step, (images, targets) in enumerate(loader):
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach()
        if step % 50 == 0:
            print(f"epoch {epoch} step {step}/{len(loader)} loss {loss_sum.item() / (step + 1):.4f} "
                  f"({time.time() - t0:.1f}s)")


def main():
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    dataset = datasets.ImageFolder(os.path.join(args.data_dir, "train"), tf)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        pin_memory=True, drop_last=True, generator=g)

    model = SmallConvNet(len(dataset.classes)).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)

    start_epoch = 0
    if args.resume:
        state = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(state)
        start_epoch = int(os.path.basename(args.resume).split("_")[1].split(".")[0]) + 1
        print(f"resumed from {args.resume}, starting at epoch {start_epoch}")

    os.makedirs(args.output, exist_ok=True)
    for epoch in range(start_epoch, args.epochs):
        train_one_epoch(model, loader, criterion, optimizer, device, epoch)
        scheduler.step()
        torch.save(model.state_dict(), os.path.join(args.output, f"checkpoint_{epoch}.pth"))


if __name__ == "__main__":
    main()
