"""Causal attention with an additive -inf mask kept as a buffer and one baddbmm-style fused scale."""

import math

import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, seq_len: int) -> None:
        super().__init__()
        bias = torch.full((seq_len, seq_len), float("-inf")).triu(diagonal=1)  # 0 on/below the diagonal
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        t = q.size(-2)
        scores = (q * (1.0 / math.sqrt(q.size(-1)))) @ k.transpose(-2, -1)  # (B, H, T, T)
        return torch.softmax(scores + self.bias[:t, :t], dim=-1) @ v  # (B, H, T, D)
