"""Pairwise Euclidean distances, one row of x at a time."""

import torch
from torch import nn

N, M, DIM = 96, 80, 16


class Model(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        rows = []
        for i in range(x.size(0)):
            diff = x[i] - y  # (M, D)
            rows.append(diff.pow(2).sum(dim=1).sqrt())  # (M,)
        return torch.stack(rows)  # (N, M)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(N, DIM), torch.randn(M, DIM)]


def get_init_inputs() -> list:
    return []
