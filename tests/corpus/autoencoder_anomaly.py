"""Convolutional auto-encoder for anomaly detection on sensor spectrograms.

Usage:
    python autoencoder_anomaly.py train --data normal.npy
    python autoencoder_anomaly.py score --data test.npy
"""
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class ConvAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))  # (B, 1, 64, 64)


def train(path):
    torch.manual_seed(0)
    x = torch.from_numpy(np.load(path).astype(np.float32))[:, None]  # (N, 1, 64, 64)
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(x), batch_size=64, shuffle=True, generator=g, pin_memory=True)
    model = ConvAE().cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = float("inf")
    for epoch in range(50):
        model.train()
        total = torch.zeros((), device="cuda")
        for (xb,) in loader:
            xb = xb.cuda(non_blocking=True)
            loss = nn.functional.mse_loss(model(xb), xb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * xb.size(0)
        epoch_loss = total.item() / len(x)
        print(f"epoch {epoch}: {epoch_loss:.5f}")
        if epoch_loss < best:
            best = epoch_loss
            torch.save(model, "ae_best.pt")


def score(path):
    model = torch.load("ae_best.pt", map_location="cpu")
    model.eval()
    x = torch.from_numpy(np.load(path).astype(np.float32))[:, None]
    errors = []
    with torch.inference_mode():
        for (xb,) in DataLoader(TensorDataset(x), batch_size=256):
            xb = xb.to(next(model.parameters()).device)
            errors.append(((model(xb) - xb) ** 2).mean(dim=(1, 2, 3)).cpu())
    errors = torch.cat(errors)
    threshold = errors.quantile(0.99)
    print(f"{int((errors > threshold).sum())} anomalies above {threshold:.5f}")


if __name__ == "__main__":
    command, data = sys.argv[1], sys.argv[sys.argv.index("--data") + 1]
    train(data) if command == "train" else score(data)
