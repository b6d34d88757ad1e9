import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # The matmul expansion |x|^2 + |y|^2 - 2 x.y cancels for points far from the origin; use differences.
        return torch.cdist(x, y, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")  # (N, M)
