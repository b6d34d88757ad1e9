"""Conv2d -> BatchNorm2d -> ReLU in inference mode (a fusion candidate: fold BN into the conv weights)."""

import torch
from torch import nn

BATCH, C_IN, C_OUT, SIZE = 8, 16, 32, 32


class Model(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        with torch.no_grad():  # non-trivial running statistics, so folding them is actually tested
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
        self.eval()  # inference: BatchNorm uses the running statistics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))  # (B, C_in, H, W) -> (B, C_out, H, W)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, C_IN, SIZE, SIZE)]


def get_init_inputs() -> list:
    return [C_IN, C_OUT]


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach: a candidate must match these too (see compare.py)."""
    return [
        ("a batch of one", [torch.randn(1, C_IN, SIZE, SIZE)]),
        ("an odd, non-square image (7 x 5)", [torch.randn(BATCH, C_IN, 7, 5)]),
        ("a channels_last input", [torch.randn(BATCH, C_IN, SIZE, SIZE).to(memory_format=torch.channels_last)]),
    ]
