"""Residual add followed by LayerNorm (post-norm transformer sub-layer output)."""

import torch
from torch import nn

BATCH, SEQ, DIM = 16, 128, 256


class Model(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.norm(x + residual)  # (B, T, D)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, SEQ, DIM), torch.randn(BATCH, SEQ, DIM)]


def get_init_inputs() -> list:
    return [DIM]
