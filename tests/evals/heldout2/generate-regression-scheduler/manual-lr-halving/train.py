"""Regression MLP (dropout) trained with AdamW; lr = base * 0.5 ** (step // 8), a pure function of the step.

Because the schedule and each epoch's shuffle are functions of the step counter, a checkpoint only needs the
model, the optimizer, the step and the global RNG state (dropout masks).
"""

import argparse
from pathlib import Path

import torch
from torch import nn

FEATURES = 16


def make_split(n: int, generator: torch.Generator, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, FEATURES, generator=generator)  # (n, 16)
    noise = 0.02 * torch.randn(n, 1, generator=generator)
    return x, torch.tanh(x @ w / 2) + noise  # (n, 16), (n, 1)


def learning_rate(base_lr: float, step: int) -> float:
    return base_lr * 0.5 ** (step // 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-steps", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("runs/regression"))
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    data_gen = torch.Generator().manual_seed(args.seed)
    w = torch.randn(FEATURES, 1, generator=data_gen)  # fixed teacher
    x_train, y_train = (t.to(device) for t in make_split(512, data_gen, w))
    x_val, y_val = (t.to(device) for t in make_split(128, data_gen, w))

    model = nn.Sequential(
        nn.Linear(FEATURES, 48), nn.GELU(), nn.Dropout(0.2),
        nn.Linear(48, 48), nn.GELU(), nn.Dropout(0.2),
        nn.Linear(48, 1),
    ).to(device)
    base_lr = 5e-3
    optimizer = torch.optim.AdamW(model.parameters(), lr=base_lr)
    loss_fn = nn.MSELoss()

    args.output_dir.mkdir(parents=True, exist_ok=True)
    ckpt = args.output_dir / "last.pt"
    step = 0
    if args.resume:
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step = state["step"]

    batch_size, n_batches = 32, 512 // 32
    while step < args.max_steps:
        epoch, b = divmod(step, n_batches)
        perm = torch.randperm(512, generator=torch.Generator().manual_seed(args.seed + 1000 * (epoch + 1)))
        idx = perm[b * batch_size : (b + 1) * batch_size].to(device)

        for group in optimizer.param_groups:
            group["lr"] = learning_rate(base_lr, step)
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_train[idx]), y_train[idx])  # (B, 1) vs (B, 1)
        loss.backward()
        optimizer.step()
        step += 1

        if step % 8 == 0 or step == args.max_steps:
            model.eval()
            with torch.inference_mode():
                val_mse = loss_fn(model(x_val), y_val).item()
            print(f"step={step} train_mse={loss.item():.5f} val_mse={val_mse:.5f} lr={learning_rate(base_lr, step - 1):.5f}")

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(), "step": step}, ckpt)


if __name__ == "__main__":
    main()
