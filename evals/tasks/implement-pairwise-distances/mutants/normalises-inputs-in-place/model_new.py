import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        centre = x.mean(dim=0)
        x.sub_(centre)
        y.sub_(centre)
        return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
