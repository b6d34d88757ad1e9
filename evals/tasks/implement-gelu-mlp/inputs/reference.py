"""Two-layer MLP with the tanh-approximated GELU written out by hand."""

import math

import torch
from torch import nn

BATCH, DIM, HIDDEN = 256, 32, 1024  # a wide hidden layer: the activation is most of the work


class Model(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)  # (B, hidden)
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))
        return self.fc2(h)  # (B, dim)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, DIM)]


def get_init_inputs() -> list:
    return [DIM, HIDDEN]


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach; the replacement must match these too."""
    return [
        ("large inputs (1e3 * randn): the tanh saturates, exp-based forms overflow", [1000 * torch.randn(BATCH, DIM)]),
        ("a batch of one", [torch.randn(1, DIM)]),
        ("a 3-d input (batch, tokens, dim)", [torch.randn(4, 16, DIM)]),
        ("a non-contiguous input (transposed view)", [torch.randn(DIM, BATCH).t()]),
    ]
