"""BatchNorm CNN on synthetic 4x4 images.

Data order: each epoch's permutation comes from a generator seeded with (seed, epoch), so a resumed run
rebuilds it from the step counter alone and skips the batches already consumed.
"""

import argparse
from pathlib import Path

import torch
from torch import nn

N_TRAIN, N_VAL, N_CLASSES = 512, 128, 4


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, 6, 4, 4) -> (B, 6, 2, 2)
        nn.Flatten(),  # -> (B, 24)
        nn.Linear(24, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Linear(32, N_CLASSES),
    )


def synthetic_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    teacher = torch.randn(16, N_CLASSES, generator=torch.Generator().manual_seed(99))
    images = torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))  # (n, 1, 4, 4)
    labels = (images.reshape(n, 16) @ teacher).argmax(dim=1)  # (n,)
    return images, labels


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def train_step(model, optimizer, loss_fn, images, labels) -> torch.Tensor:
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.detach()  # synced only when logged


@torch.inference_mode()
def accuracy(model, images, labels) -> float:
    model.eval()
    predictions = model(images).argmax(dim=1)  # (N,)
    return (predictions == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    x_train, y_train = synthetic_split(N_TRAIN, args.seed)
    x_val, y_val = synthetic_split(N_VAL, args.seed + 7)
    x_train, y_train = x_train.to(device), y_train.to(device)
    x_val, y_val = x_val.to(device), y_val.to(device)

    model = build_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    loss_fn = nn.CrossEntropyLoss()

    args.output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.output_dir / "ckpt.pt"
    step = 0
    if args.resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]

    steps_per_epoch = N_TRAIN // args.batch_size
    while step < args.max_steps:
        epoch, batch = divmod(step, steps_per_epoch)
        perm = epoch_permutation(args.seed, epoch, N_TRAIN).to(device)
        idx = perm[batch * args.batch_size : (batch + 1) * args.batch_size]
        loss = train_step(model, optimizer, loss_fn, x_train[idx], y_train[idx])
        step += 1
        if step % 8 == 0 or step == args.max_steps:
            print(f"step {step:4d} | train loss {loss.item():.5f} | val acc {accuracy(model, x_val, y_val):.4f}")

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, checkpoint)


if __name__ == "__main__":
    main()
