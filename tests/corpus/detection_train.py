"""Mask R-CNN fine-tuning, following the torchvision detection reference loop."""
import argparse
import math
import sys

import torch
from torch.utils.data import DataLoader
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn

from instance_data import InstanceSegDataset, collate_fn


def train_one_epoch(model, optimizer, loader, device, epoch, scaler=None, print_freq=20):
    model.train()
    warmup = None
    if epoch == 0:
        warmup_iters = min(1000, len(loader) - 1)
        warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.001, total_iters=warmup_iters)
    for i, (images, targets) in enumerate(loader):
        images = [img.to(device, non_blocking=True) for img in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=scaler is not None):
            loss_dict = model(images, targets)
            losses = sum(loss for loss in loss_dict.values())
        loss_value = losses.item()
        if not math.isfinite(loss_value):
            print(f"Loss is {loss_value}, stopping training: {loss_dict}")
            sys.exit(1)
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(losses).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            losses.backward()
            optimizer.step()
        if warmup is not None:
            warmup.step()
        if i % print_freq == 0:
            print(f"epoch {epoch} [{i}/{len(loader)}] loss {loss_value:.4f} lr {optimizer.param_groups[0]['lr']:.5f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="coco_subset")
    parser.add_argument("--epochs", type=int, default=26)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataset = InstanceSegDataset(args.data, train=True)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(dataset, batch_size=2, shuffle=True, num_workers=4, collate_fn=collate_fn,
                        pin_memory=device.type == "cuda", generator=g)
    model = maskrcnn_resnet50_fpn(weights=MaskRCNN_ResNet50_FPN_Weights.DEFAULT)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)
    lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[16, 22], gamma=0.1)
    scaler = torch.amp.GradScaler("cuda") if args.amp else None
    for epoch in range(args.epochs):
        train_one_epoch(model, optimizer, loader, device, epoch, scaler)
        lr_scheduler.step()
        checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "lr_scheduler": lr_scheduler.state_dict(), "epoch": epoch}
        if scaler is not None:
            checkpoint["scaler"] = scaler.state_dict()
        torch.save(checkpoint, f"model_{epoch}.pth")


if __name__ == "__main__":
    main()
