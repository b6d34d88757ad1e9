# doctor-expect: clean
# doctor-args:
# doctor-options: --steps 16
# doctor-bug:
"""Trainer class with gradient accumulation (k=3), a flushed final partial window, clipping, per-step cosine
schedule sized in optimizer steps with warm-up, BN CNN, mid-epoch validation every 5 steps."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(self.drop(x.flatten(1)))


class Trainer:
    def __init__(self, model, train, val, accum=3, epochs=3):
        self.model, self.train_loader, self.val_loader, self.accum = model, train, val, accum
        self.opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        total = epochs * math.ceil(len(train) / accum)
        warm = 3
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm))))
        self.epochs, self.global_step = epochs, 0

    def validate(self):
        self.model.eval()
        with torch.inference_mode():
            losses = [F.cross_entropy(self.model(x), y).item() for x, y in self.val_loader]
        self.model.train()
        return sum(losses) / len(losses)

    def fit(self):
        for epoch in range(self.epochs):
            self.model.train()
            self.opt.zero_grad()
            for i, (x, y) in enumerate(self.train_loader):
                loss = F.cross_entropy(self.model(x), y) / self.accum
                loss.backward()
                if (i + 1) % self.accum == 0 or i + 1 == len(self.train_loader):
                    nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                    self.opt.step()
                    self.sched.step()
                    self.opt.zero_grad()
                    self.global_step += 1
                    if self.global_step % 5 == 0:
                        print(f"step {self.global_step} val {self.validate():.3f}")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(320, 1, 8, 8)
    y = torch.randint(0, 3, (320,))
    train = DataLoader(TensorDataset(x[:256], y[:256]), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(x[256:], y[256:]), batch_size=32)
    Trainer(Net(), train, val).fit()


if __name__ == "__main__":
    main()
