"""Cross-entropy through a one-hot mask over the log-probabilities."""

import torch
import torch.nn.functional as F
from torch import nn


class ModelNew(nn.Module):
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1)  # (B, C)
        one_hot = F.one_hot(target, num_classes=logits.shape[1]).to(log_p.dtype)  # (B, C)
        return -(log_p * one_hot).sum(dim=1).mean()
