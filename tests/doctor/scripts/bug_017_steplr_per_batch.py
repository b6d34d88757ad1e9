# doctor-expect: PT-RUN017
# doctor-args:
# doctor-options:
# doctor-bug: StepLR(step_size=5, gamma=0.1) is meant as "every 5 epochs" but Trainer.step_batch steps it after every batch: the LR is divided by 10 every 5 batches and is ~1e-6 of its start by batch 30, inside the first epoch
"""Trainer class that bundles optimizer and scheduler stepping."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, lr=1e-3, lr_step_epochs=5):
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=lr_step_epochs, gamma=0.1)

    def step_batch(self, x, y):
        self.opt.zero_grad()
        loss = nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return loss.item()

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            losses = [self.step_batch(x, y) for x, y in loader]
            print(f"epoch {epoch} loss {sum(losses) / len(losses):.4f} lr {self.sched.get_last_lr()[0]:.1e}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(1280, 10)
    y = x[:, :3].argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    Trainer(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))).fit(loader, epochs=1)
