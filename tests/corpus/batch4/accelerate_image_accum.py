"""Accelerate + gradient accumulation for an image classifier (timm backbone)."""
import argparse
import os

import timm
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def loaders(root, bs):
    train_tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor()])
    val_tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
    tr = datasets.ImageFolder(os.path.join(root, "train"), train_tf)
    va = datasets.ImageFolder(os.path.join(root, "val"), val_tf)
    return (DataLoader(tr, bs, shuffle=True, num_workers=8, pin_memory=True, drop_last=True),
            DataLoader(va, bs * 2, num_workers=8, pin_memory=True), len(tr.classes))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="data/food101")
    p.add_argument("--model", default="convnext_tiny")
    p.add_argument("--bs", type=int, default=32)
    p.add_argument("--accum", type=int, default=8)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=4e-4)
    args = p.parse_args()

    accelerator = Accelerator(gradient_accumulation_steps=args.accum, mixed_precision="fp16")
    set_seed(2024)
    train_dl, val_dl, n_classes = loaders(args.root, args.bs)
    model = timm.create_model(args.model, pretrained=True, num_classes=n_classes, drop_path_rate=0.1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    n_updates = args.epochs * len(train_dl) // args.accum
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_updates)
    model, optimizer, train_dl, val_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, val_dl, scheduler)

    for epoch in range(args.epochs):
        model.train()
        for images, labels in train_dl:
            with accelerator.accumulate(model):
                loss = F.cross_entropy(model(images), labels, label_smoothing=0.1)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()

        model.eval()
        correct = total = 0
        for images, labels in val_dl:
            with torch.no_grad():
                preds = model(images).argmax(-1)
            preds, labels = accelerator.gather_for_metrics((preds, labels))
            correct += (preds == labels).sum().item()
            total += labels.numel()
        accelerator.print(f"epoch {epoch} top1 {correct / total:.4f}")
        accelerator.save_state(f"ckpt/epoch_{epoch}")


if __name__ == "__main__":
    main()
