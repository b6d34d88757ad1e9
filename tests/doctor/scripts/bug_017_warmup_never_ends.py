# doctor-expect: PT-RUN017
# doctor-args:
# doctor-options: --steps 32
# doctor-bug: the linear warm-up is sized in optimizer steps (warmup_steps=200) but scheduler.step() is called once per epoch: after 4 epochs (32 steps) the applied LR is still 2% of the target and warm-up never ends within the run
"""Transformer-ish classifier with a warm-up schedule from a dataclass config."""
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Config:
    lr: float = 1e-3
    warmup_steps: int = 200
    epochs: int = 4
    batch_size: int = 32


def warmup_lambda(warmup_steps):
    return lambda step: min(1.0, (step + 1) / warmup_steps)


class TinyEncoder(nn.Module):
    def __init__(self, vocab=50, dim=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.layer = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.cls = nn.Linear(dim, 2)

    def forward(self, tokens):
        return self.cls(self.layer(self.emb(tokens)).mean(1))


if __name__ == "__main__":
    cfg = Config()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    tokens = torch.randint(0, 50, (256, 8))
    labels = (tokens[:, 0] > 25).long()
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=cfg.batch_size, shuffle=True)
    model = TinyEncoder()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_lambda(cfg.warmup_steps))
    for epoch in range(cfg.epochs):
        for tok, lab in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(tok), lab)
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e}")
