# doctor-expect: PT-RUN010
# doctor-args:
# doctor-options:
# doctor-bug: the loss uses reduction="sum" over a batch of 64 with an SGD learning rate tuned for the mean: the effective step is 64x too large and the loss explodes within a few steps
"""Linear-model trainer with configurable loss reduction."""
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class Cfg:
    batch_size: int = 64
    lr: float = 0.02
    steps: int = 25
    reduction: str = "sum"


class Trainer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.model = nn.Linear(16, 1)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        self.loss_fn = nn.MSELoss(reduction=cfg.reduction)
        self.gen = torch.Generator().manual_seed(1)
        self.w = torch.randn(16, 1, generator=self.gen)

    def batch(self):
        x = torch.randn(self.cfg.batch_size, 16, generator=self.gen)
        return x, x @ self.w

    def fit(self):
        for step in range(self.cfg.steps):
            x, y = self.batch()
            self.opt.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.opt.step()
            if step % 5 == 0:
                print(f"step {step} loss {loss.item():.3e}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    Trainer(Cfg()).fit()
