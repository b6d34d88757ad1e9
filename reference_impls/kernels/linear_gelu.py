"""A linear layer followed by GELU (the MLP up-projection of a transformer block)."""

import torch
import torch.nn.functional as F
from torch import nn

BATCH, IN_FEATURES, OUT_FEATURES = 256, 512, 1024


class Model(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc(x))  # (B, in) -> (B, out)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, IN_FEATURES)]


def get_init_inputs() -> list:
    return [IN_FEATURES, OUT_FEATURES]


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach: a candidate must match these too (see compare.py)."""
    return [
        ("large inputs (1e3 * randn): GELU is ~identity or ~0 there", [1000 * torch.randn(BATCH, IN_FEATURES)]),
        ("a batch of one", [torch.randn(1, IN_FEATURES)]),
        ("a 3-d input (batch, tokens, features)", [torch.randn(2, 8, IN_FEATURES)]),
        ("a non-contiguous input (transposed view)", [torch.randn(IN_FEATURES, BATCH).t()]),
    ]
