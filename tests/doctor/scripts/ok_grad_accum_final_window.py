# doctor-expect: clean
# doctor-args: --accum 4
# doctor-options:
# doctor-bug:
"""Gradient accumulation done right: (i + 1) % k, loss / k, and the final partial window stepped."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accum", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(176, 12)
    y = x[:, :3].argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    n_batches = len(loader)
    for epoch in range(args.epochs):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        for i, (xb, yb) in enumerate(loader):
            window = min(args.accum, n_batches - (i // args.accum) * args.accum)
            loss = nn.functional.cross_entropy(model(xb), yb) / window
            loss.backward()
            if (i + 1) % args.accum == 0 or i + 1 == n_batches:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        print(f"epoch {epoch} loss {loss.item() * window:.4f}")


if __name__ == "__main__":
    main()
