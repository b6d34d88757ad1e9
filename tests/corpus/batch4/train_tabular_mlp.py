#!/usr/bin/env python
"""Train an MLP on the churn table exported by the data team.

usage: python train_tabular_mlp.py --csv data/churn.csv --epochs 30
"""
import argparse
import random

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--out", default="churn_mlp.pt")
    return p.parse_args()


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_table(path):
    df = pd.read_csv(path)
    df = df.sort_values("signup_date")
    y = df.pop("churned").astype("float32").values
    x = df.drop(columns=["customer_id", "signup_date"]).astype("float32").values
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    n_val = len(df) // 10
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


class ChurnNet(nn.Module):
    def __init__(self, n_in, hidden):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.2),
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.body(x)).squeeze(-1)


def main():
    args = parse_args()
    seed_all(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    (xtr, ytr), (xva, yva) = load_table(args.csv)
    train_ds = TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr))
    val_ds = TensorDataset(torch.from_numpy(xva), torch.from_numpy(yva))
    train_loader = DataLoader(train_ds, batch_size=args.batch_size)
    val_loader = DataLoader(val_ds, batch_size=1024)

    model = ChurnNet(xtr.shape[1], args.hidden).to(device)
    pos_weight = torch.tensor([(ytr == 0).sum() / max((ytr == 1).sum(), 1)], device=device)
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)

    best = float("inf")
    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for xb, yb in train_loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(xb)

        model.eval()
        val_loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in val_loader:
                xb, yb = xb.to(device), yb.to(device)
                logits = model(xb)
                val_loss += criterion(logits, yb).item() * len(xb)
                correct += ((logits > 0).float() == yb).sum().item()
        val_loss /= len(val_ds)
        print(f"epoch {epoch:02d} train {running / len(train_ds):.4f} "
              f"val {val_loss:.4f} acc {correct / len(val_ds):.3f}")
        if val_loss < best:
            best = val_loss
            torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
