"""Linear -> GELU(tanh) -> Linear as one nn.Sequential (parameters created in the reference's order)."""

import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)
