# doctor-expect: PT-RUN004
# doctor-args:
# doctor-options:
# doctor-bug: optimizer.zero_grad() sits before the batch loop (once per epoch): gradients pile up across every step of the epoch
"""Trainer class whose fit() zeroes the gradients once per epoch."""
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 24
    lr: float = 1e-3
    hidden: int = 48


class Regressor(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.model = Regressor(cfg.hidden)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

    def fit(self, loader):
        for epoch in range(self.cfg.epochs):
            self.model.train()
            self.optimizer.zero_grad()
            total = 0.0
            for x, y in loader:
                loss = nn.functional.smooth_l1_loss(self.model(x), y)
                loss.backward()
                self.optimizer.step()
                total += loss.item()
            print(f"epoch {epoch} loss {total / len(loader):.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(240, 5)
    y = x.pow(2).sum(1)
    cfg = TrainConfig()
    Trainer(cfg).fit(DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True))
