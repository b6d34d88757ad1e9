import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=1, keepdim=True, unbiased=False)  # (B, 1): statistics per row
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias  # (B, D)
