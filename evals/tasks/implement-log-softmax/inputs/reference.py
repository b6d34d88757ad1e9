"""Row-wise log-softmax written out pass by pass: max, shift, exp, sum, log."""

import torch
from torch import nn

ROWS, COLS = 256, 512


class Model(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        row_max = x.max(dim=1, keepdim=True).values  # (R, 1)
        shifted = x - row_max  # (R, C)
        total = torch.exp(shifted).sum(dim=1, keepdim=True)  # (R, 1)
        return shifted - torch.log(total)  # (R, C)


def get_inputs() -> list[torch.Tensor]:
    return [3 * torch.randn(ROWS, COLS)]


def get_init_inputs() -> list:
    return []


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach; the replacement must match these too."""
    dominant = torch.randn(ROWS, COLS)
    dominant[:, 0] += 200.0  # every other probability underflows to 0 in float32
    masked = 3 * torch.randn(ROWS, COLS)
    masked[:, COLS // 2:] = float("-inf")  # half of every row masked out
    return [
        ("huge logits (1e3 * randn): exp overflows without the max shift", [1000 * torch.randn(ROWS, COLS)]),
        ("large negative logits (randn - 1e3): exp underflows without the max shift", [torch.randn(ROWS, COLS) - 1000]),
        ("one logit 200 above the rest: tiny probabilities", [dominant]),
        ("-inf logits in half of every row (masked columns)", [masked]),
        ("a batch of one row", [3 * torch.randn(1, COLS)]),
        ("a non-contiguous input (transposed view)", [3 * torch.randn(COLS, ROWS).t()]),
    ]
