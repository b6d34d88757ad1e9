import argparse
import os
import random

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from seg_data import CityscapesCrops  # project dataset
from unet import UNet


def dice_loss(logits, target, eps=1.0):
    probs = torch.softmax(logits, dim=1)
    onehot = nn.functional.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (probs * onehot).sum(dim=(2, 3))
    union = probs.sum(dim=(2, 3)) + onehot.sum(dim=(2, 3))
    return 1 - ((2 * inter + eps) / (union + eps)).mean()


def save_checkpoint(path, model, optimizer, scheduler, epoch, best_miou):
    torch.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "best_miou": best_miou,
    }, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="/data/cityscapes")
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--bs", type=int, default=8)
    parser.add_argument("--ckpt", default="runs/unet/last.pth")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    train_loader = DataLoader(CityscapesCrops(args.root, "train", crop=512), batch_size=args.bs,
                              shuffle=True, num_workers=8, pin_memory=True, drop_last=True)
    val_loader = DataLoader(CityscapesCrops(args.root, "val", crop=None), batch_size=1, num_workers=4)

    model = UNet(in_channels=3, n_classes=19).to(device)
    ce = nn.CrossEntropyLoss(ignore_index=255)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=args.epochs, power=0.9)

    start_epoch, best_miou = 0, 0.0
    if args.resume and os.path.isfile(args.ckpt):
        state = torch.load(args.ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = state["epoch"]
        best_miou = state["best_miou"]

    for epoch in range(start_epoch, args.epochs):
        model.train()
        for img, mask in train_loader:
            img, mask = img.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            logits = model(img)
            loss = ce(logits, mask) + 0.5 * dice_loss(logits, mask.clamp(max=18))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()

        model.eval()
        inter = torch.zeros(19, device=device)
        union = torch.zeros(19, device=device)
        with torch.no_grad():
            for img, mask in val_loader:
                img, mask = img.to(device), mask.to(device)
                pred = model(img).argmax(1)
                valid = mask != 255
                for c in range(19):
                    p, t = (pred == c) & valid, (mask == c) & valid
                    inter[c] += (p & t).sum()
                    union[c] += (p | t).sum()
        miou = (inter / union.clamp(min=1)).mean().item()
        best_miou = max(best_miou, miou)
        print(f"epoch {epoch} mIoU {miou:.4f} (best {best_miou:.4f})")
        os.makedirs(os.path.dirname(args.ckpt), exist_ok=True)
        save_checkpoint(args.ckpt, model, optimizer, scheduler, epoch, best_miou)


if __name__ == "__main__":
    main()
