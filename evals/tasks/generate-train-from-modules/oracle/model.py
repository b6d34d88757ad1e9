"""The model for the tabular task: a small MLP with dropout."""

import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, n_features: int, n_classes: int, hidden: int = 64, p_drop: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, n_features) -> (B, n_classes) logits
