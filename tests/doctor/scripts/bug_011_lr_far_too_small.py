# doctor-expect: PT-RUN011
# doctor-args:
# doctor-options:
# doctor-bug: the learning rate is written 3e-8 instead of 3e-4 in the dataclass config: AdamW's per-step update-to-weight ratio is around 1e-7, far below the usual ~1e-3, and the model barely trains
"""Char-n-gram style classifier trained with AdamW."""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class HParams:
    lr: float = 3e-8
    weight_decay: float = 0.01
    steps: int = 30
    batch_size: int = 32


class Model(nn.Module):
    def __init__(self, vocab=64, dim=32, n_cls=4):
        super().__init__()
        self.emb = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.fc = nn.Linear(dim, n_cls)

    def forward(self, tokens):
        return self.fc(self.emb(tokens))


def batch(gen, hp):
    tokens = torch.randint(0, 64, (hp.batch_size, 10), generator=gen)
    return tokens, (tokens[:, 0] % 4)


if __name__ == "__main__":
    hp = HParams()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    for step in range(hp.steps):
        tokens, labels = batch(gen, hp)
        loss = F.cross_entropy(model(tokens), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.5f}")
