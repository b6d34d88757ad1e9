"""Synthetic tabular data: features and labels from one fixed linear teacher."""

import torch


def make_data(n: int, n_features: int, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` samples; the same teacher for every seed, so train and validation sets agree."""
    teacher = torch.Generator().manual_seed(1234)
    w = torch.randn(n_features, n_classes, generator=teacher)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_features, generator=g)  # (n, n_features)
    y = (x @ w).argmax(dim=1)  # (n,)
    return x, y
