# doctor-expect: PT-RUN003
# doctor-args:
# doctor-options:
# doctor-bug: the home-made Accelerator's `accumulate()` context already steps and zeroes the optimizer when a window closes, and the loop calls optimizer.step() again after it: every window ends with a second step that has no new gradients
"""accelerate-style loop over a tiny Accelerator written here (prepare / backward / accumulate)."""
import contextlib

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class MiniAccelerator:
    def __init__(self, gradient_accumulation_steps=1):
        self.k = gradient_accumulation_steps
        self.micro = 0
        self.optimizer = None

    def prepare(self, model, optimizer, loader):
        self.optimizer = optimizer
        return model, optimizer, loader

    def backward(self, loss):
        (loss / self.k).backward()

    @contextlib.contextmanager
    def accumulate(self):
        yield
        self.micro += 1
        if self.micro % self.k == 0:
            self.optimizer.step()
            self.optimizer.zero_grad()

    @property
    def sync_gradients(self):
        return self.micro % self.k == 0


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(384, 12)
    y = (x @ torch.randn(12, 1)).squeeze(-1)
    model = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    acc = MiniAccelerator(gradient_accumulation_steps=2)
    model, opt, loader = acc.prepare(model, opt, DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True))
    for epoch in range(2):
        for xb, yb in loader:
            with acc.accumulate():
                loss = nn.functional.mse_loss(model(xb).squeeze(-1), yb)
                acc.backward(loss)
            if acc.sync_gradients:
                opt.step()
                opt.zero_grad()
        print(epoch, loss.item())


if __name__ == "__main__":
    main()
