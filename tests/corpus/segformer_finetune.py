"""Fine-tune a SegFormer-like model on ADE20K crops with AMP; validation helper computes mIoU."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ade20k import ADE20KCrops
from segformer import build_segformer


def run_validation(model, loader, device, n_classes=150):
    model.eval()
    inter = torch.zeros(n_classes, device=device)
    union = torch.zeros(n_classes, device=device)
    with torch.no_grad():
        for images, masks in loader:
            images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
            logits = F.interpolate(model(images), size=masks.shape[-2:], mode="bilinear", align_corners=False)
            pred = logits.argmax(1)
            valid = masks != 255
            for c in range(n_classes):
                p, t = (pred == c) & valid, (masks == c) & valid
                inter[c] += (p & t).sum()
                union[c] += (p | t).sum()
    return (inter / union.clamp_min(1)).mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(ADE20KCrops("ade20k", "training"), batch_size=8, shuffle=True, num_workers=8,
                              pin_memory=True, drop_last=True, generator=g)
    val_loader = DataLoader(ADE20KCrops("ade20k", "validation"), batch_size=8, num_workers=8, pin_memory=True)
    model = build_segformer("b0", num_classes=150).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-5, weight_decay=0.01)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    criterion = nn.CrossEntropyLoss(ignore_index=255)

    model.train()
    for epoch in range(args.epochs):
        batch_losses = []
        for images, masks in train_loader:
            images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                logits = F.interpolate(model(images), size=masks.shape[-2:], mode="bilinear", align_corners=False)
                loss = criterion(logits, masks)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
            scaler.step(optimizer)
            scaler.update()
            batch_losses.append(loss)
        miou = run_validation(model, val_loader, device)
        print(f"epoch {epoch}: loss {torch.stack(batch_losses).mean().item():.4f} mIoU {miou:.4f}")
        torch.save(model.state_dict(), "segformer_b0_ade.pt")


if __name__ == "__main__":
    main()
