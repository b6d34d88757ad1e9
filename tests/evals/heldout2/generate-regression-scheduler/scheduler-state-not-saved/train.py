"""MLP regression with dropout on synthetic tabular data; AdamW with the learning rate halved every 8 steps."""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, n_features: int = 16, hidden: int = 64, p_drop: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)  # (B, n_features) -> (B,)


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets tanh(x @ w / 2) + noise for one fixed w shared by every split."""
    w = torch.randn(16, generator=torch.Generator().manual_seed(2024))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)  # (n, 16)
    y = torch.tanh(x @ w / 2) + 0.05 * torch.randn(n, generator=g)  # (n,)
    return x, y


@torch.no_grad()
def validation_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    model.eval()
    return F.mse_loss(model(x.to(device)), y.to(device)).item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
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

    x_train, y_train = make_data(512, seed=args.seed)
    x_val, y_val = make_data(128, seed=args.seed + 1)
    model = MLP().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=8, gamma=0.5)  # stepped once per optimizer step
    order = torch.Generator().manual_seed(args.seed)

    step = 0
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        order.set_state(state["epoch_rng"])
        torch.set_rng_state(state["torch_rng"])

    batches_per_epoch = len(x_train) // args.batch_size
    epoch_rng = order.get_state()
    perm = torch.randperm(len(x_train), generator=order)
    while step < args.max_steps:
        if step > 0 and step % batches_per_epoch == 0:
            epoch_rng = order.get_state()
            perm = torch.randperm(len(x_train), generator=order)
        model.train()
        i = step % batches_per_epoch
        idx = perm[i * args.batch_size : (i + 1) * args.batch_size]
        xb, yb = x_train[idx].to(device), y_train[idx].to(device)  # (B, 16), (B,)

        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1

        if step % 8 == 0 or step == args.max_steps:
            mse = validation_mse(model, x_val, y_val, device)
            print(f"step {step} loss {loss.item():.4f} lr {scheduler.get_last_lr()[0]:.2e} val_mse {mse:.4f}")

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
