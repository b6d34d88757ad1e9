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


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach; the replacement must match these too."""
    shape = (BATCH, HEADS, SEQ, HEAD_DIM)
    return [
        ("large scores (q, k = 10 * randn): exp overflows without the max shift",
         [10 * torch.randn(shape), 10 * torch.randn(shape), torch.randn(shape)]),
        ("a sequence shorter than seq_len (T = 17)", [torch.randn(BATCH, HEADS, 17, HEAD_DIM) for _ in range(3)]),
        ("a single token (T = 1)", [torch.randn(BATCH, HEADS, 1, HEAD_DIM) for _ in range(3)]),
        ("a batch of one with one head", [torch.randn(1, 1, SEQ, HEAD_DIM) for _ in range(3)]),
        ("non-contiguous q, k, v (heads split from (B, T, H, D) by transpose)",
         [torch.randn(BATCH, SEQ, HEADS, HEAD_DIM).transpose(1, 2) for _ in range(3)]),
    ]
