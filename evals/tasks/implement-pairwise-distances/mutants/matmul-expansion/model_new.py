import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # |x - y|^2 = |x|^2 + |y|^2 - 2 x.y: one matmul, but it cancels for nearby or far-off points
        squared = x.pow(2).sum(1)[:, None] + y.pow(2).sum(1)[None, :] - 2 * x @ y.T
        return squared.clamp_min(0).sqrt()
