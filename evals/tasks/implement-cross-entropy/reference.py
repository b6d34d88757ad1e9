"""Mean cross-entropy from logits and class indices, written by hand (the textbook max-shifted form)."""

import torch
from torch import nn

BATCH, CLASSES = 512, 100


class Model(nn.Module):
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        shift = logits.max(dim=1, keepdim=True).values  # (B, 1): exp never overflows
        z = logits - shift  # (B, C)
        log_z = z.exp().sum(dim=1).log()  # (B,)
        picked = z.gather(1, target[:, None]).squeeze(1)  # (B,)
        return (log_z - picked).mean()  # scalar


def get_inputs() -> list[torch.Tensor]:
    return [2 * torch.randn(BATCH, CLASSES), torch.randint(0, CLASSES, (BATCH,))]


def get_init_inputs() -> list:
    return []


def get_edge_inputs() -> list[tuple[str, list[torch.Tensor]]]:
    """Inputs random ones never reach; the replacement must match these too."""
    gap = torch.randn(BATCH, CLASSES)
    gap[:, 0] += 150.0  # class 0 dominates: every target's probability underflows to 0 in float32
    masked = 2 * torch.randn(BATCH, CLASSES)
    masked[:, CLASSES // 2:] = float("-inf")  # the upper half of the classes is masked out
    return [
        ("huge logits (1e3 * randn)", [1000 * torch.randn(BATCH, CLASSES), torch.randint(0, CLASSES, (BATCH,))]),
        ("a wrong class 150 logits ahead: target probabilities underflow to 0", [gap, torch.randint(1, CLASSES, (BATCH,))]),
        ("-inf logits on masked-out non-target classes", [masked, torch.randint(0, CLASSES // 2, (BATCH,))]),
        ("a batch of one", [2 * torch.randn(1, CLASSES), torch.randint(0, CLASSES, (1,))]),
        ("non-contiguous logits (transposed view)", [2 * torch.randn(CLASSES, BATCH).t(),
                                                     torch.randint(0, CLASSES, (BATCH,))]),
    ]
