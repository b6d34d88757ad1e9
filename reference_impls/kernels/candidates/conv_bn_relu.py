"""Candidate for conv_bn_relu: BatchNorm folded into the convolution's weights and bias at construction."""

import torch
import torch.nn.functional as F
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        # Build the same layers under the same seed as the reference, then fold.
        conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        bn = nn.BatchNorm2d(c_out)
        with torch.no_grad():
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)  # (C_out,)
            self.register_buffer("weight", conv.weight * scale[:, None, None, None])  # (C_out, C_in, 3, 3)
            self.register_buffer("bias", bn.bias - bn.running_mean * scale)  # (C_out,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.weight, self.bias, padding=1))  # (B, C_out, H, W)
