# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Model EMA: a frozen copy updated under no_grad after each step (not in the optimizer), evaluated in eval mode."""
import copy

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class EMA:
    def __init__(self, model, decay=0.9):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        self.shadow.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        for s, p in zip(self.shadow.parameters(), model.parameters()):
            s.lerp_(p, 1 - self.decay)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(384, 8)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()
    train = DataLoader(TensorDataset(x[:320], y[:320]), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[320:], y[320:]), batch_size=64)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
    ema = EMA(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(3):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            ema.update(model)
        with torch.no_grad():
            acc = sum((ema.shadow(xb).argmax(1) == yb).sum().item() for xb, yb in val) / 64
        print(f"epoch {epoch} ema val acc {acc:.3f}")
