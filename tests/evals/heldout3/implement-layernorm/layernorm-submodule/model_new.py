import torch
from torch import nn


class ModelNew(nn.Module):
    """LayerNorm over the last dimension via the built-in module (same parameter order and shapes)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)
