"""Tabular dropout classifier; each optimizer step accumulates two 32-sample micro-batches.

Micro-batch losses are summed over samples and divided by the effective batch (64), which is exactly the
mean over the 64 samples. Each epoch's order comes from a generator seeded with (seed, epoch), so resume
needs only the step count and the RNG state.
"""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

MICRO_BATCH, ACCUM = 32, 2
EFFECTIVE_BATCH = MICRO_BATCH * ACCUM


def build_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Dropout(0.15), nn.Linear(32, 4))  # (B, 16) -> (B, 4)


def dataset(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(2024))
    x = torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))
    return x, torch.argmax(x @ w, dim=1)  # (n, 16), (n,)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic-data", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-steps", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output-dir", type=Path, default=Path("out"))
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.output_dir / "last.pt"

    xs, ys = dataset(512, args.seed)
    xv, yv = dataset(128, args.seed + 1)
    xs, ys, xv, yv = xs.to(dev), ys.to(dev), xv.to(dev), yv.to(dev)
    model = build_model().to(dev)
    optim = torch.optim.SGD(model.parameters(), lr=0.08, momentum=0.9)

    step = 0
    if args.resume:
        ck = torch.load(ckpt_path, map_location=dev, weights_only=True)
        model.load_state_dict(ck["model"])
        optim.load_state_dict(ck["optim"])
        step = ck["step"]
        torch.set_rng_state(ck["rng"])

    steps_per_epoch = len(xs) // EFFECTIVE_BATCH
    while step < args.max_steps:
        epoch, k = divmod(step, steps_per_epoch)
        perm = torch.randperm(len(xs), generator=torch.Generator().manual_seed(1000 * args.seed + epoch)).to(dev)
        rows = perm[k * EFFECTIVE_BATCH : (k + 1) * EFFECTIVE_BATCH]  # this step's 64 samples

        model.train()
        total = torch.zeros((), device=dev)
        for m in range(ACCUM):
            mb = rows[m * MICRO_BATCH : (m + 1) * MICRO_BATCH]
            optim.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xs[mb]), ys[mb], reduction="sum") / EFFECTIVE_BATCH
            loss.backward()
            total += loss.detach()
        optim.step()
        step += 1

        if step % 8 == 0 or step == args.max_steps:
            model.eval()
            with torch.no_grad():
                acc = (model(xv).argmax(1) == yv).float().mean()
            print(f"step {step}: loss {total.item():.4f}  val acc {acc.item():.3f}")

    torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "step": step, "rng": torch.get_rng_state()},
               ckpt_path)


if __name__ == "__main__":
    main()
