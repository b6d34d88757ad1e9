# doctor-expect: PT-RUN006
# doctor-args:
# doctor-options:
# doctor-bug: forward() calls .detach() on the encoder features, so the trainable encoder (in the optimizer) never receives a gradient; only the head learns
"""Encoder + head model trained end to end (or so it seems)."""
import argparse

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, d_in, d_feat, n_cls):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Linear(64, d_feat), nn.ReLU())
        self.head = nn.Linear(d_feat, n_cls)

    def forward(self, x):
        feats = self.encoder(x).detach()
        return self.head(feats)


def make_batches(n_batches, bs, d_in, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d_in, 5, generator=g)
    for _ in range(n_batches):
        x = torch.randn(bs, d_in, generator=g)
        yield x, (x @ w).argmax(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Model(d_in=24, d_feat=16, n_cls=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for step, (x, y) in enumerate(make_batches(args.steps, 32, 24, seed=1)):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
