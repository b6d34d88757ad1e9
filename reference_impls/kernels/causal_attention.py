"""Causal self-attention written out by hand: scores, mask, softmax, weighted sum (the unfused baseline)."""

import math

import torch
from torch import nn

BATCH, HEADS, SEQ, HEAD_DIM = 4, 4, 128, 32


class Model(nn.Module):
    def __init__(self, seq_len: int) -> None:
        super().__init__()
        # A buffer, so the mask follows the module to its device.
        self.register_buffer("mask", torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool)))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        t = q.shape[-2]  # q, k, v: (B, nh, T, hs)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, nh, T, T)
        scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        return torch.softmax(scores, dim=-1) @ v  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, HEADS, SEQ, HEAD_DIM) for _ in range(3)]


def get_init_inputs() -> list:
    return [SEQ]


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach: a candidate must match these too (see compare.py)."""
    shape = (BATCH, HEADS, SEQ, HEAD_DIM)
    return [
        ("large scores (q, k = 10 * randn): exp overflows without the max shift",
         [10 * torch.randn(shape), 10 * torch.randn(shape), torch.randn(shape)]),
        ("a sequence shorter than seq_len (T = 17)", [torch.randn(BATCH, HEADS, 17, HEAD_DIM) for _ in range(3)]),
        ("a single token (T = 1)", [torch.randn(BATCH, HEADS, 1, HEAD_DIM) for _ in range(3)]),
        ("non-contiguous q, k, v (heads split from (B, T, nh, hs) by transpose)",
         [torch.randn(BATCH, SEQ, HEADS, HEAD_DIM).transpose(1, 2) for _ in range(3)]),
    ]
