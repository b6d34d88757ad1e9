"""Train with periodic checkpoints and --resume."""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/exp1"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(8000, 16, device=device)
    y = (x.sum(dim=1) > 0).long()
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    start_epoch = 0
    last = args.out / "last.pt"
    if args.resume and last.exists():
        state = torch.load(last, weights_only=True)
        model.load_state_dict(state["model"])
        start_epoch = state["epoch"] + 1

    for epoch in range(start_epoch, args.epochs):
        model.train()
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        scheduler.step()
        torch.save({"model": model.state_dict(), "epoch": epoch}, last)
        print(f"epoch {epoch}: loss {loss.item():.4f}")

    torch.save(model, args.out / "model.pt")


if __name__ == "__main__":
    main()
