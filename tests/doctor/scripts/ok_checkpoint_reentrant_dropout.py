# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Gradient checkpointing (reentrant and non-reentrant) over residual blocks that hold dropout."""
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(0.1), nn.Linear(4 * d, d))

    def forward(self, x):
        return x + self.ff(self.norm(x))


class Deep(nn.Module):
    def __init__(self, d=32, depth=4, reentrant=True):
        super().__init__()
        self.inp = nn.Linear(10, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(depth))
        self.out = nn.Linear(d, 1)
        self.reentrant = reentrant

    def forward(self, x):
        h = self.inp(x)
        for i, blk in enumerate(self.blocks):
            if self.training:
                h = checkpoint(blk, h, use_reentrant=self.reentrant if i % 2 == 0 else False)
            else:
                h = blk(h)
        return self.out(h).squeeze(-1)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Deep()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(512, 10)
    y = x[:, 0] * x[:, 1]
    for step in range(30):
        model.train()
        idx = torch.randint(0, 448, (32,))
        loss = nn.functional.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:
            model.eval()
            with torch.no_grad():
                print(step, nn.functional.mse_loss(model(x[448:]), y[448:]).item())
