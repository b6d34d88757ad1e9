# doctor-expect: PT-RUN005
# doctor-args: --accum 4
# doctor-options:
# doctor-bug: the accumulation test is `step % accum == 0` with step counting from 0: the first window steps after one micro-batch, and the optimizer steps on micro-batches 0, 4, 8, ... (each window ends one batch early)
"""Gradient accumulation with argparse-configured window."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accum", type=int, default=4)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(384, 20)
    y = (x[:, :10].sum(1) > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=args.micro_batch, shuffle=True)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    criterion = nn.CrossEntropyLoss()
    optimizer.zero_grad()
    for epoch in range(args.epochs):
        for step, (xb, yb) in enumerate(loader):
            loss = criterion(model(xb), yb) / args.accum
            loss.backward()
            if step % args.accum == 0:
                optimizer.step()
                optimizer.zero_grad()
        print(f"epoch {epoch} last loss {loss.item() * args.accum:.4f}")


if __name__ == "__main__":
    main()
