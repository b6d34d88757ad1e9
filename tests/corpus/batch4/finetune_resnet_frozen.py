"""Transfer learning: ResNet-34 backbone frozen, new head; then full fine-tune with discriminative LRs."""
import argparse
import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def get_data(root, bs):
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    tr = datasets.ImageFolder(os.path.join(root, "train"), transforms.Compose([
        transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm]))
    va = datasets.ImageFolder(os.path.join(root, "val"), transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm]))
    return (DataLoader(tr, bs, shuffle=True, num_workers=6, pin_memory=True),
            DataLoader(va, bs, num_workers=6, pin_memory=True), len(tr.classes))


def run(model, loader, device, optimizer=None):
    training = optimizer is not None
    model.train(training)
    crit = nn.CrossEntropyLoss()
    loss_sum, hits, n = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = model(x)
            loss = crit(out, y)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            loss_sum += loss.item() * len(y)
            hits += (out.argmax(1) == y).sum().item()
            n += len(y)
    return loss_sum / n, hits / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--bs", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(11)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_dl, val_dl, n_classes = get_data(args.root, args.bs)

    model = models.resnet34(weights=models.ResNet34_Weights.DEFAULT)
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc = nn.Sequential(nn.Dropout(0.3), nn.Linear(model.fc.in_features, n_classes))
    model = model.to(device)

    head_opt = torch.optim.AdamW(model.fc.parameters(), lr=1e-3)
    for epoch in range(4):
        tl, ta = run(model, train_dl, device, head_opt)
        vl, va = run(model, val_dl, device)
        print(f"[head] {epoch} train {tl:.3f}/{ta:.3f} val {vl:.3f}/{va:.3f}")

    for p in model.parameters():
        p.requires_grad_(True)
    groups = [
        {"params": model.layer3.parameters(), "lr": 1e-5},
        {"params": model.layer4.parameters(), "lr": 3e-5},
        {"params": model.fc.parameters(), "lr": 1e-4},
    ]
    ft_opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    for epoch in range(10):
        tl, ta = run(model, train_dl, device, ft_opt)
        vl, va = run(model, val_dl, device)
        print(f"[ft] {epoch} train {tl:.3f}/{ta:.3f} val {vl:.3f}/{va:.3f}")
    torch.save(model.state_dict(), "resnet34_ft.pt")


if __name__ == "__main__":
    main()
