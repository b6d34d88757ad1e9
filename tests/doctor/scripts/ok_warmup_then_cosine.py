# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Linear warm-up from a tiny LR (1% of peak) over 6 steps, then cosine decay; stepped per batch."""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Config:
    lr: float = 2e-3
    warmup_steps: int = 6
    epochs: int = 4
    batch_size: int = 32


def warmup_cosine(warmup, total):
    def factor(step):
        if step < warmup:
            return 0.01 + 0.99 * step / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))
    return factor


if __name__ == "__main__":
    cfg = Config()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    tokens = torch.randint(0, 40, (256, 10))
    labels = (tokens[:, :3].sum(1) > 60).long()
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=cfg.batch_size, shuffle=True)
    model = nn.Sequential(nn.Embedding(40, 16), nn.Flatten(), nn.Linear(160, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    total = cfg.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.warmup_steps, total))
    for epoch in range(cfg.epochs):
        for tok, lab in loader:
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(tok), lab)
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e}")
