# doctor-expect: PT-RUN002
# doctor-args: --epochs 4
# doctor-options:
# doctor-bug: model.train() is called once before the epoch loop; validate() switches to eval, so from epoch 2 on training forwards run with dropout and batch-norm off
"""Tabular regression with helper functions and argparse."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def build_loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(400, 12, generator=g)
    y = (x[:, 0] * 2 - x[:, 1] + 0.1 * torch.randn(400, generator=g)).unsqueeze(1)
    train = TensorDataset(x[:320], y[:320])
    val = TensorDataset(x[320:], y[320:])
    return DataLoader(train, batch_size=40, shuffle=True), DataLoader(val, batch_size=80)


def build_model():
    return nn.Sequential(nn.Linear(12, 48), nn.BatchNorm1d(48), nn.GELU(), nn.Dropout(0.2), nn.Linear(48, 1))


def train_one_epoch(model, loader, optimizer, loss_fn):
    running = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        running += loss.item()
    return running / len(loader)


def validate(model, loader, loss_fn):
    model.eval()
    with torch.no_grad():
        return sum(loss_fn(model(xb), yb).item() for xb, yb in loader) / len(loader)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train_loader, val_loader = build_loaders()
    model = build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    model.train()
    for epoch in range(args.epochs):
        tr = train_one_epoch(model, train_loader, optimizer, loss_fn)
        va = validate(model, val_loader, loss_fn)
        print(f"epoch {epoch} train {tr:.4f} val {va:.4f}")


if __name__ == "__main__":
    main()
