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


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach; the replacement must match these too."""
    x = torch.randn(N, DIM)
    y = torch.cat([x[: M // 2], torch.randn(M - M // 2, DIM)])  # half of y coincides with rows of x
    return [
        ("points far from the origin (1e3 + randn): |x|^2 + |y|^2 - 2 x.y cancels",
         [1000 + torch.randn(N, DIM), 1000 + torch.randn(M, DIM)]),
        ("coincident points (zero distances)", [x, y]),
        ("a single point on each side", [torch.randn(1, DIM), torch.randn(1, DIM)]),
        ("non-contiguous inputs (transposed views)", [torch.randn(DIM, N).t(), torch.randn(DIM, M).t()]),
    ]
