# doctor-expect: clean
# doctor-args: --steps 40
# doctor-options: --steps 20
# doctor-bug:
"""A tiny character LM (embedding, GRU, dropout, tied head) on random windows of a synthetic corpus, AdamW with
frozen positional table excluded from the optimizer, OneCycleLR over the run's steps, periodic eval."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


class LM(nn.Module):
    def __init__(self, vocab=32, dim=48):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(16, dim) * 0.02, requires_grad=False)
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        h = self.emb(idx) + self.pos[: idx.size(1)]
        out, _ = self.rnn(self.drop(h))
        return self.head(self.drop(out))


def batch(corpus, gen, bs=16, block=16):
    starts = torch.randint(0, corpus.numel() - block - 1, (bs,), generator=gen)
    x = torch.stack([corpus[s:s + block] for s in starts])
    y = torch.stack([corpus[s + 1:s + block + 1] for s in starts])
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    corpus = torch.tensor([(i * 7 + i // 5) % 32 for i in range(4000)])
    model = LM()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.steps)
    for step in range(args.steps):
        model.train()
        x, y = batch(corpus, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                vx, vy = batch(corpus, gen)
                val = F.cross_entropy(model(vx).flatten(0, 1), vy.flatten())
            print(f"step {step} train {loss.item():.3f} val {val.item():.3f}")


if __name__ == "__main__":
    main()
