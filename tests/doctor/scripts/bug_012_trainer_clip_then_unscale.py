# doctor-expect: PT-RUN012
# doctor-args:
# doctor-options:
# doctor-bug: AmpTrainer.optimizer_step clips with clip_grad_norm_ and only then calls scaler.unscale_: the clip sees gradients multiplied by the loss scale (65536), so the max_norm=5 clip cuts every update to a tiny fraction
"""Trainer class with an AMP-style optimizer_step (GradScaler works on CPU in torch >= 2.3)."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class AmpTrainer:
    def __init__(self, model, lr=0.05, max_norm=5.0):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        self.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
        self.max_norm = max_norm

    def optimizer_step(self):
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
        self.scaler.unscale_(self.optimizer)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def training_step(self, x, y):
        loss = nn.functional.cross_entropy(self.model(x), y)
        self.scaler.scale(loss).backward()
        self.optimizer_step()
        return loss.detach()

    def fit(self, loader, epochs=3):
        self.model.train()
        for epoch in range(epochs):
            losses = torch.stack([self.training_step(x, y) for x, y in loader])
            print(f"epoch {epoch} loss {losses.mean().item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(256, 16)
    y = (x[:, :8].sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
    AmpTrainer(model).fit(DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
