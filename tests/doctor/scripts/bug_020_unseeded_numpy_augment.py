# doctor-expect: PT-RUN020
# doctor-args: --seed 0
# doctor-options: --check-determinism
# doctor-bug: seed_all() seeds torch only, but the noise augmentation in the Dataset draws from NumPy's global RNG, which is never seeded: two runs with --seed 0 differ from the first step
"""Noise-augmented regression with a --seed flag that looks reproducible."""
import argparse

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


def seed_all(seed):
    torch.manual_seed(seed)


class NoisyPoints(Dataset):
    def __init__(self, n):
        self.x = torch.linspace(-2, 2, n).unsqueeze(1)
        self.y = torch.sin(self.x * 2)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = np.random.normal(0.0, 0.05, size=1).astype("float32")
        return self.x[i] + torch.from_numpy(noise), self.y[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    seed_all(args.seed)
    torch.set_num_threads(1)
    loader = DataLoader(NoisyPoints(256), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(args.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
