"""Helpers for the image-text retrieval experiments: model pieces, freezing, collation."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data._utils.collate import default_collate


class ProjectionHead(nn.Module):
    """Projects backbone features to the joint embedding space."""

    def __init__(self, d_in, d_out=256, p_drop=0.1):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.fc = nn.Linear(d_out, d_out)
        self.drop = nn.Dropout(p_drop)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x):
        h = self.proj(x)
        return self.norm(h + self.drop(self.fc(F.gelu(h))))


class DualEncoder(nn.Module):
    def __init__(self, image_encoder, text_encoder, d_img, d_txt, d_joint=256):
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_head = ProjectionHead(d_img, d_joint)
        self.text_head = ProjectionHead(d_txt, d_joint)
        self.d_joint = d_joint

    def forward(self, images, tokens):
        img = F.normalize(self.image_head(self.image_encoder(images)), dim=-1)  # (B, d)
        txt = F.normalize(self.text_head(self.text_encoder(tokens)), dim=-1)  # (B, d)
        logit_scale = nn.Parameter(torch.tensor(2.659, device=img.device))
        return logit_scale.exp() * img @ txt.t()  # (B, B)


def clip_loss(logits):
    labels = torch.arange(logits.size(0), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def freeze_backbones(model: DualEncoder, unfreeze_last_n=0):
    for encoder in (model.image_encoder, model.text_encoder):
        params = list(encoder.parameters())
        for p in params[: len(params) - unfreeze_last_n]:
            p.require_grad = False


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def collate_pairs(batch):
    """Drops samples whose image failed to decode (None) before the default collation."""
    batch = [b for b in batch if b[0] is not None]
    if not batch:
        return None
    return default_collate(batch)


def recall_at_k(logits, k=5):
    ranks = logits.topk(k, dim=1).indices
    target = torch.arange(logits.size(0), device=logits.device).unsqueeze(1)
    return (ranks == target).any(dim=1).float().mean()
