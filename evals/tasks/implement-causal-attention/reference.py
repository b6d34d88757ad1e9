"""Causal scaled dot-product attention with an explicit mask, softmax and matmuls."""

import math

import torch
from torch import nn

BATCH, HEADS, SEQ, HEAD_DIM = 4, 4, 64, 32


class Model(nn.Module):
    def __init__(self, seq_len: int) -> None:
        super().__init__()
        self.register_buffer("mask", torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool)))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        T = q.size(-2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B, H, T, T)
        att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
        return torch.softmax(att, dim=-1) @ v  # (B, H, T, D)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, HEADS, SEQ, HEAD_DIM) for _ in range(3)]


def get_init_inputs() -> list:
    return [SEQ]
