# doctor-expect: PT-RUN006
# doctor-args:
# doctor-options:
# doctor-bug: Block.forward computes h = self.norm(x) but then feeds x to self.ff: the LayerNorm's weight and bias are trainable, in the optimizer, and never receive a gradient
"""Residual MLP blocks with pre-norm."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.norm(x)
        return x + self.ff(x)


class ResMLP(nn.Module):
    def __init__(self, d_in=16, dim=32, depth=2, n_out=2):
        super().__init__()
        self.inp = nn.Linear(d_in, dim)
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.out = nn.Linear(dim, n_out)

    def forward(self, x):
        x = self.inp(x)
        for blk in self.blocks:
            x = blk(x)
        return self.out(x)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(320, 16)
    y = (x[:, 0] * x[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = ResMLP()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(3):
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
