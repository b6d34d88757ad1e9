# doctor-expect: PT-RUN001
# doctor-args:
# doctor-options:
# doctor-bug: evaluate() runs under torch.no_grad() but never calls model.eval(): dropout stays active on every validation forward
"""MLP classifier on synthetic data, validation every epoch."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n, dim, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    w = torch.randn(dim, generator=g)
    y = (x @ w > 0).long()
    return TensorDataset(x, y)


class MLP(nn.Module):
    def __init__(self, dim, hidden=64, p=0.3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, 2))

    def forward(self, x):
        return self.net(x)


def evaluate(model, loader):
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = DataLoader(make_data(256, 16, 1), batch_size=32, shuffle=True)
    val = DataLoader(make_data(128, 16, 2), batch_size=64)
    model = MLP(16)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        for x, y in train:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        acc = evaluate(model, val)
        print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.3f}")


if __name__ == "__main__":
    main()
