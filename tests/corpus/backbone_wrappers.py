"""Wrappers around feature backbones: frozen stems, lazy heads, activation checkpointing, feature taps."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


class CheckpointedSequential(nn.Sequential):
    """nn.Sequential that recomputes activations in backward to save memory during training."""

    def __init__(self, *layers, segments=2):
        super().__init__(*layers)
        self.segments = segments

    def forward(self, x):
        if self.training and x.requires_grad:
            return checkpoint_sequential(self, self.segments, x, use_reentrant=False)
        return super().forward(x)


class TimmLikeBackbone(nn.Module):
    def __init__(self, dims=(64, 128, 256)):
        super().__init__()
        self.dims = dims
        stages, prev = [], 3
        for d in dims:
            stages.append(nn.Sequential(nn.Conv2d(prev, d, 3, 2, 1), nn.BatchNorm2d(d), nn.ReLU(inplace=True)))
            prev = d
        self.stages = nn.ModuleList(stages)
        self.grad_checkpointing = False

    def forward_features(self, x):
        feats = []
        for stage in self.stages:
            x = checkpoint(stage, x, use_reentrant=False) if self.grad_checkpointing else stage(x)
            feats.append(x)
        return feats

    def forward(self, x):
        return self.forward_features(x)[-1].mean(dim=(2, 3))  # (B, C)


class LazyHeadClassifier(nn.Module):
    """The head infers its input width on the first call (nn.LazyLinear registers it properly)."""

    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.head = nn.LazyLinear(num_classes)

    def forward(self, x):
        feats = self.backbone.forward_features(x)[-1]
        pooled = nn.Flatten()(F.adaptive_avg_pool2d(feats, 1))  # parameter-free, harmless
        return self.head(pooled)


class FrozenStem(nn.Module):
    def __init__(self, backbone, n_frozen=1):
        super().__init__()
        self.backbone = backbone
        for stage in list(backbone.stages)[:n_frozen]:
            stage.requires_grad_(False)
            for p in stage.parameters():
                p.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        for stage in list(self.backbone.stages)[:1]:
            stage.eval()  # keep frozen BatchNorm statistics fixed
        return self

    def forward(self, x):
        return self.backbone(x)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
