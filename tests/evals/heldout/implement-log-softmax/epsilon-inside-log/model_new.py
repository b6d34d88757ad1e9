"""Row-wise log-softmax as the log of a (guarded) softmax."""

import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.softmax(x, dim=1) + 1e-6)  # epsilon keeps log away from 0
