# doctor-expect: PT-RUN003
# doctor-args:
# doctor-options:
# doctor-bug: the on_batch_end callback (GradClipCallback) also calls trainer.optimizer.step() after Trainer.fit already stepped: the optimizer steps twice per backward
"""Trainer with a small callback system."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Callback:
    def on_batch_end(self, trainer):
        pass


class GradClipCallback(Callback):
    def __init__(self, max_norm=1.0):
        self.max_norm = max_norm

    def on_batch_end(self, trainer):
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), self.max_norm)
        trainer.optimizer.step()


class PrintCallback(Callback):
    def on_batch_end(self, trainer):
        if trainer.global_step % 10 == 0:
            print(f"step {trainer.global_step} loss {trainer.last_loss:.4f}")


class Trainer:
    def __init__(self, model, optimizer, callbacks=()):
        self.model, self.optimizer, self.callbacks = model, optimizer, list(callbacks)
        self.global_step = 0
        self.last_loss = float("nan")

    def fit(self, loader, epochs):
        self.model.train()
        for _ in range(epochs):
            for x, y in loader:
                self.optimizer.zero_grad()
                loss = nn.functional.cross_entropy(self.model(x), y)
                loss.backward()
                self.optimizer.step()
                self.global_step += 1
                self.last_loss = loss.item()
                for cb in self.callbacks:
                    cb.on_batch_end(self)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(384, 16)
    y = (x[:, 0] > x[:, 1]).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Trainer(model, opt, [PrintCallback(), GradClipCallback()]).fit(loader, epochs=3)
