"""Training script for model.MLP on data.make_data: one function per concern, read top to bottom."""

import argparse
import os

import torch
from torch import nn

from data import make_data
from model import MLP

BATCH = 32
EVAL_EVERY = 8


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor,
               y: torch.Tensor) -> torch.Tensor:
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)  # (B, 4) logits vs (B,) labels
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(-1) == y).float().mean().item()


def batch_indices(step: int, n: int, seed: int) -> torch.Tensor:
    """The rows of global step `step`: epoch e is a permutation drawn from a generator seeded with (seed, e)."""
    per_epoch = n // BATCH
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return perm[i * BATCH : (i + 1) * BATCH]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-steps", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="out")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    os.makedirs(args.output_dir, exist_ok=True)
    ckpt_path = os.path.join(args.output_dir, "model_and_optim.pt")

    x, y = make_data(512, 16, 4, args.seed)
    x_val, y_val = make_data(128, 16, 4, args.seed + 1)
    x, y, x_val, y_val = x.to(device), y.to(device), x_val.to(device), y_val.to(device)
    model = MLP(16, 4, hidden=32).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.8)
    loss_fn = nn.CrossEntropyLoss()

    first_step = 0
    if args.resume:
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_step = state["step"]
        torch.set_rng_state(state["rng"])

    model.train()
    for step in range(first_step, args.max_steps):
        idx = batch_indices(step, len(x), args.seed).to(device)
        loss = train_step(model, optimizer, loss_fn, x[idx], y[idx])
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == args.max_steps:
            print(f"step {step + 1:4d} | loss {loss.item():.4f} | val acc {evaluate(model, x_val, y_val):.3f}")

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": args.max_steps,
                "rng": torch.get_rng_state()}, ckpt_path)


if __name__ == "__main__":
    main()
