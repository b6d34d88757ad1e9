"""1-D CNN on spectrogram frames with a reproducible configuration."""

import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def configure(seed: int) -> None:
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = True


def split(n: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.permutation(n)
    n_val = int(n * val_fraction)
    return order[n_val:], order[:n_val]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    feats = torch.randn(3000, 40, 100)  # (N, mel bins, frames)
    labels = torch.randint(0, 8, (3000,))
    train_idx, val_idx = split(len(feats), 0.1)
    x_train, y_train = feats[train_idx].to(device), labels[train_idx].to(device)
    x_val, y_val = feats[val_idx].to(device), labels[val_idx].to(device)

    model = nn.Sequential(
        nn.Conv1d(40, 64, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 8)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(5):
        model.train()
        perm = torch.randperm(len(x_train), device=device)
        for i in range(0, len(x_train), 64):
            idx = perm[i : i + 64]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_val).argmax(dim=1) == y_val).float().mean()
        print(f"epoch {epoch}: val accuracy {acc.item():.3f}")


if __name__ == "__main__":
    main()
