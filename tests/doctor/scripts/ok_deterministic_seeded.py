# doctor-expect: clean
# doctor-args: --seed 0
# doctor-options: --check-determinism
# doctor-bug:
"""Fully seeded run (random, numpy, torch, loader generator, worker seeds): two runs are bit-identical."""
import argparse
import random

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Jittered(Dataset):
    def __init__(self, n):
        self.x = torch.linspace(-2, 2, n).unsqueeze(1)
        self.y = torch.cos(self.x * 1.5)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + float(np.random.normal(0.0, 0.05)), self.y[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    seed_everything(args.seed)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(Jittered(256), batch_size=32, shuffle=True, generator=g)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Dropout(0.05), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
