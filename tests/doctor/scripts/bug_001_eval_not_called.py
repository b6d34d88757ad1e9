# doctor-expect: PT-RUN001
# doctor-args:
# doctor-options:
# doctor-bug: Trainer.evaluate writes `self.model.eval` without calling it: inference_mode validation runs with batch-norm and dropout in training mode
"""Trainer class with fit / evaluate on a small CNN."""
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Config:
    epochs: int = 3
    lr: float = 3e-3
    batch_size: int = 16
    seed: int = 0


def images(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 12, 12, generator=g)
    y = (x[:, :, :6].mean((1, 2, 3)) > x[:, :, 6:].mean((1, 2, 3))).long()
    return TensorDataset(x, y)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(8 * 6 * 6, 2))

    def forward(self, x):
        return self.head(self.features(x))


class Trainer:
    def __init__(self, model, cfg):
        self.model, self.cfg = model, cfg
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def train_epoch(self, loader):
        self.model.train()
        for x, y in loader:
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.opt.step()
        return loss.item()

    @torch.inference_mode()
    def evaluate(self, loader):
        self.model.eval
        losses = [self.loss_fn(self.model(x), y).item() for x, y in loader]
        return sum(losses) / len(losses)

    def fit(self, train_loader, val_loader):
        for epoch in range(self.cfg.epochs):
            tl = self.train_epoch(train_loader)
            vl = self.evaluate(val_loader)
            print(f"epoch {epoch}: train {tl:.4f} val {vl:.4f}")


if __name__ == "__main__":
    cfg = Config()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)
    train = DataLoader(images(160, 0), batch_size=cfg.batch_size, shuffle=True)
    val = DataLoader(images(64, 1), batch_size=32)
    Trainer(SmallCNN(), cfg).fit(train, val)
