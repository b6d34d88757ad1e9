"""Shared-encoder multi-task model: gated features, per-task towers, optional checkpointing."""
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint


class Encoder(nn.Module):
    def __init__(self, d_in, d_model, n_layers=4):
        super().__init__()
        self.inp = nn.Linear(d_in, d_model)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, d_model), nn.GELU()) for _ in range(n_layers)
        )

    def forward(self, x, use_checkpoint=False):
        h = self.inp(x)
        for layer in self.layers:
            if use_checkpoint:
                h = h + checkpoint(layer, h)
            else:
                h = h + layer(h)
        return h


class GatedFeatures(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.gate = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, h, mask=None):
        g = torch.sigmoid(self.gate(h))
        if mask is not None:
            g *= mask.unsqueeze(-1)
        return g * self.value(h)


class MultiTaskModel(nn.Module):
    def __init__(self, d_in, d_model, task_dims):
        super().__init__()
        self.encoder = Encoder(d_in, d_model)
        self.gated = GatedFeatures(d_model)
        self.towers = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(d_model, d_model // 2), nn.ReLU(inplace=True), nn.Linear(d_model // 2, dim))
            for name, dim in task_dims.items()
        })

    def forward(self, x, mask=None, use_checkpoint=False):
        h = self.encoder.forward(x, use_checkpoint=use_checkpoint)
        feats = self.gated(h, mask).mean(dim=1)  # (B, d_model)
        return {name: tower(feats) for name, tower in self.towers.items()}


def multitask_loss(outputs, targets, weights):
    # sum of per-task losses for one joint backward
    loss = 0.0
    for name, out in outputs.items():
        if name == "ctr":
            loss += weights[name] * nn.functional.binary_cross_entropy_with_logits(out.squeeze(-1), targets[name])
        else:
            loss += weights[name] * nn.functional.mse_loss(out, targets[name])
    return loss
