# doctor-expect: PT-RUN020
# doctor-args: --seed 0
# doctor-options: --check-determinism
# doctor-bug: `seed = args.seed or random.randrange(2**31)` treats --seed 0 as "no seed": every run draws a fresh seed, so two runs with --seed 0 differ from the first step (different init and order)
"""Classifier with an optional --seed (random when omitted)."""
import argparse
import random

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def get_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=None, help="random when omitted")
    ap.add_argument("--epochs", type=int, default=3)
    return ap.parse_args()


def main():
    args = get_args()
    seed = args.seed or random.randrange(2 ** 31)
    print("seed", seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(256, 10, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(args.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
