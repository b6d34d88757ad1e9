"""A compact Trainer-style loop: OneCycle schedule per step, checkpoint helper, resume support."""
import argparse
import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def save_checkpoint(model, epoch, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(out_dir, f"epoch_{epoch}.pt"))


def latest_checkpoint(out_dir):
    files = sorted((f for f in os.listdir(out_dir) if f.startswith("epoch_")), key=lambda f: int(f[6:-3]))
    return (os.path.join(out_dir, files[-1]), int(files[-1][6:-3])) if files else (None, -1)


class Regressor(nn.Module):
    def __init__(self, d_in, hidden=512):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/regressor")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = "cuda"

    data = torch.load("features.pt", map_location="cpu", weights_only=True)
    ds = TensorDataset(data["x"], data["y"])
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(ds, batch_size=256, shuffle=True, generator=g, pin_memory=True)
    model = Regressor(data["x"].size(1)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=args.epochs * len(loader))

    start_epoch = 0
    if args.resume:
        path, last_epoch = latest_checkpoint(args.out)
        if path is not None:
            model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
            start_epoch = last_epoch + 1

    for epoch in range(start_epoch, args.epochs):
        model.train()
        total = torch.zeros((), device=device)
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            scheduler.step()
            optimizer.step()
            total += loss.detach()
        print(f"epoch {epoch}: mse {total.item() / len(loader):.5f}")
        save_checkpoint(model, epoch, args.out)


if __name__ == "__main__":
    main()
