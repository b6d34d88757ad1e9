# doctor-expect: PT-RUN013
# doctor-args:
# doctor-options:
# doctor-bug: train_one_epoch() calls set_seed(cfg.seed) at its start: the global RNG is reset every epoch, so the shuffling loader serves exactly the same order each epoch
"""Trainer with a seed_everything-style helper called in the wrong place."""
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Cfg:
    seed: int = 7
    epochs: int = 4
    batch_size: int = 32
    lr: float = 3e-3


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, cfg):
        self.cfg = cfg
        set_seed(cfg.seed)
        x = torch.randn(256, 12)
        y = (x[:, :6].sum(1) > x[:, 6:].sum(1)).long()
        self.loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True)
        self.model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 2))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

    def train_one_epoch(self, epoch):
        set_seed(self.cfg.seed)
        self.model.train()
        for x, y in self.loader:
            self.opt.zero_grad()
            loss = nn.functional.cross_entropy(self.model(x), y)
            loss.backward()
            self.opt.step()
        return loss.item()

    def fit(self):
        for epoch in range(self.cfg.epochs):
            print(f"epoch {epoch} loss {self.train_one_epoch(epoch):.4f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    Trainer(Cfg()).fit()
