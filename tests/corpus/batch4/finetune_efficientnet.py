"""Fine-tune a pretrained EfficientNet-B0 on a 12-class plant disease dataset.

Stage 1 trains only the new classifier; stage 2 unfreezes the last blocks.
"""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def make_loaders(root, bs):
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(224, scale=(0.6, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(0.2, 0.2, 0.2),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    test_tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    tr = datasets.ImageFolder(f"{root}/train", train_tf)
    te = datasets.ImageFolder(f"{root}/test", test_tf)
    return (DataLoader(tr, bs, shuffle=True, num_workers=8, pin_memory=True),
            DataLoader(te, bs, shuffle=False, num_workers=8, pin_memory=True))


def accuracy(model, loader, device):
    model.eval()
    hits = total = 0
    with torch.inference_mode():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            hits += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return hits / total


def fit(model, loader, optimizer, epochs, device):
    crit = nn.CrossEntropyLoss()
    for ep in range(epochs):
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            crit(model(x), y).backward()
            optimizer.step()
        print(f"  epoch {ep} done")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--bs", type=int, default=48)
    ap.add_argument("--head-epochs", type=int, default=5)
    ap.add_argument("--ft-epochs", type=int, default=15)
    args = ap.parse_args()

    torch.manual_seed(3)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader, test_loader = make_loaders(args.root, args.bs)

    model = models.efficientnet_b0(weights=models.EfficientNet_B0_Weights.IMAGENET1K_V1)
    for p in model.parameters():
        p.requires_grad = False
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.classifier[1] = nn.Linear(model.classifier[1].in_features, 12)
    model = model.to(device)

    print("stage 1: head only")
    fit(model, train_loader, optimizer, args.head_epochs, device)
    print("head acc", accuracy(model, test_loader, device))

    for p in model.features[-3:].parameters():
        p.requires_grad = True
    ft_params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(ft_params, lr=1e-4)
    print("stage 2: last blocks + head")
    fit(model, train_loader, optimizer, args.ft_epochs, device)
    print("final acc", accuracy(model, test_loader, device))
    torch.save(model.state_dict(), "effnet_plants.pt")


if __name__ == "__main__":
    main()
