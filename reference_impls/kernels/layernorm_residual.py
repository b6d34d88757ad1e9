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


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach: a candidate must match these too (see compare.py)."""
    shape = (BATCH, SEQ, DIM)
    constant = (torch.randint(-8, 9, (BATCH, SEQ, 1)) / 4).expand(shape).contiguous()  # exact in float32
    return [
        ("a large common offset (100 + randn): E[x^2] - E[x]^2 cancels", [100 + torch.randn(shape), torch.randn(shape)]),
        ("variance near eps (1e-3 * randn): eps belongs inside the sqrt",
         [1e-3 * torch.randn(shape), 1e-3 * torch.randn(shape)]),
        ("constant rows (zero variance)", [constant, torch.zeros(shape)]),
        ("one sequence of one token", [torch.randn(1, 1, DIM), torch.randn(1, 1, DIM)]),
        ("a non-contiguous x (transposed view)", [torch.randn(BATCH, DIM, SEQ).transpose(1, 2), torch.randn(shape)]),
    ]
