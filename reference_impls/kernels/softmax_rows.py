"""Row-wise softmax written in three passes (max, exp, normalize), the way it is usually first written."""

import torch
from torch import nn

ROWS, COLS = 512, 1024


class Model(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = x - x.max(dim=-1, keepdim=True).values  # (R, C), max subtracted for stability
        e = torch.exp(shifted)  # (R, C)
        return e / e.sum(dim=-1, keepdim=True)  # (R, C)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(ROWS, COLS)]


def get_init_inputs() -> list:
    return []


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach: a candidate must match these too (see compare.py)."""
    masked = torch.randn(ROWS, COLS)
    masked[:, COLS // 2:] = float("-inf")  # half of every row masked out
    return [
        ("huge logits (1e3 * randn): exp overflows without the max shift", [1000 * torch.randn(ROWS, COLS)]),
        ("large negative logits (randn - 1e3): exp underflows without the max shift", [torch.randn(ROWS, COLS) - 1000]),
        ("-inf logits in half of every row (masked columns)", [masked]),
        ("a batch of one row", [torch.randn(1, COLS)]),
        ("a non-contiguous input (transposed view)", [torch.randn(COLS, ROWS).t()]),
    ]
