# doctor-expect: PT-RUN005
# doctor-args:
# doctor-options:
# doctor-bug: the trainer tries to flush the last partial window with `i == len(loader)`, which is never true (the last index is len(loader) - 1): the final 3 micro-batches of each epoch are never stepped
"""Trainer class with accumulate_grad_batches and an (off-by-one) flush."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class AccumTrainer:
    def __init__(self, model, lr=1e-3, accumulate_grad_batches=4, epochs=6):
        self.model = model
        self.k = accumulate_grad_batches
        self.epochs = epochs
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)

    def _should_step(self, i, n_batches):
        return (i + 1) % self.k == 0 or i == n_batches

    def fit(self, loader):
        n_batches = len(loader)
        for epoch in range(self.epochs):
            self.model.train()
            self.opt.zero_grad()
            for i, (x, y) in enumerate(loader):
                loss = nn.functional.cross_entropy(self.model(x), y) / self.k
                loss.backward()
                if self._should_step(i, n_batches):
                    self.opt.step()
                    self.opt.zero_grad()
            print(f"epoch {epoch} loss {loss.item() * self.k:.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(176, 12)
    y = torch.bucketize(x[:, 0], torch.tensor([-0.5, 0.5]))
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 3))
    AccumTrainer(model).fit(loader)
