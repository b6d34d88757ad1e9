# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""accelerate-style loop with a tiny local Accelerator (prepare / backward / accumulate / clip)."""
import contextlib

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class MiniAccelerator:
    def __init__(self, gradient_accumulation_steps=1):
        self.k = gradient_accumulation_steps
        self.step = 0
        self.sync_gradients = True
        self.device = torch.device("cpu")

    def prepare(self, *objs):
        return objs

    @contextlib.contextmanager
    def accumulate(self, model):
        self.step += 1
        self.sync_gradients = self.step % self.k == 0
        yield

    def backward(self, loss):
        (loss / self.k).backward()

    def clip_grad_norm_(self, params, max_norm):
        if self.sync_gradients:
            return torch.nn.utils.clip_grad_norm_(params, max_norm)
        return None


class StepOnSync:
    """Optimizer wrapper that only steps / zeroes at window ends, like accelerate's AcceleratedOptimizer."""

    def __init__(self, optimizer, accelerator):
        self.optimizer, self.acc = optimizer, accelerator

    def step(self):
        if self.acc.sync_gradients:
            self.optimizer.step()

    def zero_grad(self):
        if self.acc.sync_gradients:
            self.optimizer.zero_grad()


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(512, 12)
    y = (x[:, :6].sum(1) > 0).long()
    acc = MiniAccelerator(gradient_accumulation_steps=2)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 2))
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model, optimizer, loader = acc.prepare(model, torch.optim.AdamW(model.parameters(), lr=2e-3), loader)
    optimizer = StepOnSync(optimizer, acc)
    model.train()
    for epoch in range(2):
        for i, (xb, yb) in enumerate(loader):
            with acc.accumulate(model):
                loss = nn.functional.cross_entropy(model(xb), yb)
                acc.backward(loss)
                acc.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
            if i % 16 == 0:
                print(f"epoch {epoch} batch {i} loss {loss.item():.4f}")
