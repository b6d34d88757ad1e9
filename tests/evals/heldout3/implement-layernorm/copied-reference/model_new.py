"""Fast layer norm."""

import torch
from torch import nn

BATCH, DIM = 256, 384


class ModelNew(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)  # (B, 1)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (B, 1), biased
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias  # (B, D)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, DIM) * 2 + 1]


def get_init_inputs() -> list:
    return [DIM]


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach; the replacement must match these too."""
    constant = (torch.randint(-8, 9, (BATCH, 1)) / 4).expand(BATCH, DIM).contiguous()  # exact in float32
    return [
        ("a large common offset (100 + randn): E[x^2] - E[x]^2 cancels", [100 + torch.randn(BATCH, DIM)]),
        ("variance near eps (1e-3 * randn): eps belongs inside the sqrt", [1e-3 * torch.randn(BATCH, DIM)]),
        ("constant rows (zero variance)", [constant]),
        ("a batch of one", [torch.randn(1, DIM) * 2 + 1]),
        ("a 3-d input (batch, tokens, dim)", [torch.randn(4, 16, DIM) * 2 + 1]),
        ("a non-contiguous input (transposed view)", [torch.randn(DIM, BATCH).t() * 2 + 1]),
    ]
