"""A small image-classifier training script with the kind of bugs that ship: `make demo` reviews and diagnoses it.

It runs on CPU in seconds on synthetic data: python train_buggy.py --epochs 3
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        h = self.features(x).flatten(1)
        return F.softmax(self.head(self.dropout(h)), dim=1)


def make_data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, 1, 16, 16, generator=g) * 0.5
    x[:, :, :8, :8] += (y == 0).float().view(-1, 1, 1, 1)
    x[:, :, 8:, 8:] += (y == 1).float().view(-1, 1, 1, 1)
    x[:, :, :8, 8:] += (y == 2).float().view(-1, 1, 1, 1)
    return TensorDataset(x, y)


def run_epoch(model, loader, criterion, optimizer=None, train=True):
    total, correct, count = 0.0, 0, 0
    with torch.set_grad_enabled(train):
        for x, y in loader:
            out = model(x)
            loss = criterion(out, y)
            if train:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            count += len(y)
    return total / count, correct / count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    torch.manual_seed(0)

    train_loader = DataLoader(make_data(512, seed=1), batch_size=32)
    val_loader = DataLoader(make_data(256, seed=2), batch_size=64)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        model.train()
        train_loss, train_acc = run_epoch(model, train_loader, criterion, optimizer)
        val_loss, val_acc = run_epoch(model, val_loader, criterion, train=False)
        print(f"epoch {epoch}: train loss {train_loss:.3f} acc {train_acc:.2f} | val loss {val_loss:.3f} acc {val_acc:.2f}")
    torch.save(model, "model.pt")


if __name__ == "__main__":
    main()
