"""Numerically careful building blocks shared by the probabilistic models."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def log_mean_exp(x, dim):
    return torch.logsumexp(x, dim=dim) - math.log(x.size(dim))


def softplus_inverse(y):
    return y + torch.log(-torch.expm1(-y))


def gaussian_nll(mu, log_sigma, target):
    return 0.5 * ((target - mu) / log_sigma.exp()) ** 2 + log_sigma + 0.5 * math.log(2 * math.pi)


def log1p_transform(counts):
    return torch.log1p(counts)


def positive_scale(raw):
    return F.softplus(raw) + 1e-4


def whiten(cov, x):
    """x @ L^-T for the Cholesky factor L of cov (batched)."""
    L = torch.linalg.cholesky(cov)
    return torch.linalg.solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1)


def grad_global_norm(parameters):
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return torch.norm(torch.stack(norms), 2) if norms else torch.zeros(())


def scaled_dot_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, h, T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def relative_error(a, b, eps=1e-12):
    return (a - b).abs().max() / (b.abs().max() + eps)


class Standardize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("inv_std", 1.0 / torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x):
        return (x - self.mean) * self.inv_std


def batch_entropy(logits):
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1).mean()
