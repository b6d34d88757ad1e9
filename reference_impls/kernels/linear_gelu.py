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
