"""Tabular classifier, gradient accumulation from per-sample losses normalised by the effective batch."""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, n_features: int, n_classes: int, hidden: int = 64, p_drop: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, n_features) -> (B, n_classes) logits


def make_data(n: int, n_features: int, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels from one fixed linear teacher, so train and validation agree."""
    teacher = torch.Generator().manual_seed(1234)
    w = torch.randn(n_features, n_classes, generator=teacher)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_features, generator=g)  # (n, n_features)
    y = (x @ w).argmax(dim=1)  # (n,) labels a linear model can learn
    return x, y


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    model.eval()
    logits = model(x.to(device))  # (N, n_classes)
    return (logits.argmax(dim=1) == y.to(device)).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32, help="micro-batch size")
    parser.add_argument("--accum-steps", type=int, default=2, help="micro-batches per optimizer step")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--eval-every", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, default=Path("out"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--synthetic-data", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.output_dir / "checkpoint.pt"

    x_train, y_train = make_data(512, 16, 4, seed=args.seed)
    x_val, y_val = make_data(128, 16, 4, seed=args.seed + 1)
    model = MLP(16, 4).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    order = torch.Generator().manual_seed(args.seed)  # data order, saved with the checkpoint

    step = 0
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        order.set_state(state["epoch_rng"])  # rebuilds this epoch's order; consumed batches are skipped below
        torch.set_rng_state(state["torch_rng"])

    batches_per_epoch = len(x_train) // (args.batch_size * args.accum_steps)  # optimizer steps per epoch
    epoch_rng = order.get_state()
    perm = torch.randperm(len(x_train), generator=order)
    while step < args.max_steps:
        if step > 0 and step % batches_per_epoch == 0:
            epoch_rng = order.get_state()
            perm = torch.randperm(len(x_train), generator=order)  # new epoch: reshuffle
        model.train()
        first = (step % batches_per_epoch) * args.accum_steps
        for micro in range(first, first + args.accum_steps):
            idx = perm[micro * args.batch_size : (micro + 1) * args.batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)  # (B, 16), (B,)
            per_sample = F.cross_entropy(model(xb), yb, reduction="none")  # (B,) one loss per sample
            loss = per_sample.sum() / (args.batch_size * args.accum_steps)  # mean over the 64 samples of the step
            loss.backward()  # gradients add up across the micro-batches
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        if step % args.eval_every == 0 or step == args.max_steps:
            acc = evaluate(model, x_val, y_val, device)
            print(f"step {step} loss {loss.item():.4f} val_acc {acc:.3f}")

    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "epoch_rng": epoch_rng,
            "torch_rng": torch.get_rng_state(),
        },
        ckpt_path,
    )


if __name__ == "__main__":
    main()
