# doctor-expect: PT-RUN009
# doctor-args:
# doctor-options:
# doctor-bug: the CSV-like table has missing values (NaN) that are never imputed; the first batch holding such a row makes the first Linear's output, the loss and then every weight NaN
"""Tabular regression from a parsed table with missing values."""
import argparse
import io

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def fake_csv(rows=300, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, 6))
    buf = io.StringIO()
    for i, r in enumerate(data):
        cells = [f"{v:.4f}" for v in r]
        if i % 97 == 41:
            cells[2] = ""
        buf.write(",".join(cells) + "\n")
    buf.seek(0)
    return buf


def parse(buf):
    rows = [[float(c) if c else float("nan") for c in line.strip().split(",")] for line in buf]
    arr = torch.tensor(rows, dtype=torch.float32)
    return arr[:, :5], arr[:, 5:] + arr[:, :1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = parse(fake_csv())
    loader = DataLoader(TensorDataset(x, y), batch_size=20, shuffle=True)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(args.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
