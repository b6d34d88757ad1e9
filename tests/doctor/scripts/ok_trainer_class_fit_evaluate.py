# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Trainer class with fit / evaluate, a dataclass config and batch-norm + dropout."""
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Config:
    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 32
    seed: int = 0


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 48), nn.BatchNorm1d(48), nn.ReLU(), nn.Dropout(0.25))
        self.head = nn.Linear(48, 2)

    def forward(self, x):
        return self.head(self.body(x))


class Trainer:
    def __init__(self, model, cfg):
        self.model, self.cfg = model, cfg
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.criterion = nn.CrossEntropyLoss()

    def train_epoch(self, loader):
        self.model.train()
        total = 0.0
        for x, y in loader:
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        return (total / len(loader)).item()

    @torch.no_grad()
    def evaluate(self, loader):
        self.model.eval()
        correct = sum((self.model(x).argmax(1) == y).sum() for x, y in loader)
        return correct.item() / len(loader.dataset)

    def fit(self, train_loader, val_loader):
        for epoch in range(self.cfg.epochs):
            train_loss = self.train_epoch(train_loader)
            print(f"epoch {epoch} train {train_loss:.4f} val acc {self.evaluate(val_loader):.3f}")


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    return TensorDataset(x, (x[:, 0] * x[:, 1] + x[:, 2] > 0).long())


if __name__ == "__main__":
    cfg = Config()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)
    train = DataLoader(data(320, 0), batch_size=cfg.batch_size, shuffle=True)
    val = DataLoader(data(96, 1), batch_size=48)
    Trainer(Net(), cfg).fit(train, val)
