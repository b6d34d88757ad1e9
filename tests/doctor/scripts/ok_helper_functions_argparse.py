# doctor-expect: clean
# doctor-args: --epochs 3
# doctor-options:
# doctor-bug:
"""Helper-function loop (train_one_epoch / evaluate) driven by argparse, regression with MSE."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset, random_split


def build_data(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(400, 8, generator=g)
    y = (torch.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]).unsqueeze(1)
    return random_split(TensorDataset(x, y), [320, 80], generator=g)


def train_one_epoch(model, loader, optimizer, loss_fn):
    model.train()
    running = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        running += loss.item() * len(xb)
    return running / len(loader.dataset)


@torch.no_grad()
def evaluate(model, loader, loss_fn):
    model.eval()
    return sum(loss_fn(model(xb), yb).item() * len(xb) for xb, yb in loader) / len(loader.dataset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train_set, val_set = build_data(0)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=80)
    model = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    for epoch in range(args.epochs):
        tr = train_one_epoch(model, train_loader, optimizer, loss_fn)
        va = evaluate(model, val_loader, loss_fn)
        print(f"epoch {epoch} train {tr:.4f} val {va:.4f}")


if __name__ == "__main__":
    main()
