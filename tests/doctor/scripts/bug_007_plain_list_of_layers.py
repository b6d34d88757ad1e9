# doctor-expect: PT-RUN007
# doctor-args:
# doctor-options:
# doctor-bug: the hidden layers are kept in a plain Python list instead of nn.ModuleList: they are not registered, so model.parameters() (the optimizer) misses them; they receive gradients and never change
"""Configurable-depth MLP built from a list of layers."""
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class ModelConfig:
    d_in: int = 10
    hidden: list = field(default_factory=lambda: [32, 32])
    d_out: int = 1


class DeepMLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dims = [cfg.d_in] + cfg.hidden
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(dims[-1], cfg.d_out)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.out(x)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(256, 10)
    y = (x[:, :3] ** 2).sum(1, keepdim=True)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = DeepMLP(ModelConfig())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(4):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
