# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""torch.compile with fixed shapes: sequences padded to one length and drop_last=True, so it compiles once."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

SEQ_LEN = 16


class ConvClassifier(nn.Module):
    def __init__(self, vocab=40, dim=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, dim, 3, padding=1)
        self.out = nn.Linear(dim, 2)

    def forward(self, tokens):
        h = torch.relu(self.conv(self.emb(tokens).transpose(1, 2)))
        return self.out(h.mean(-1))


def make_data(n, gen):
    tokens = torch.zeros(n, SEQ_LEN, dtype=torch.long)
    for i in range(n):
        length = int(torch.randint(3, SEQ_LEN + 1, (1,), generator=gen))
        tokens[i, :length] = torch.randint(1, 40, (length,), generator=gen)
    labels = ((tokens > 20).sum(1) > (tokens > 0).sum(1) / 2).long()
    return TensorDataset(tokens, labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="aot_eager")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(make_data(250, torch.Generator().manual_seed(0)), batch_size=8, shuffle=True, drop_last=True)
    model = ConvClassifier()
    compiled = torch.compile(model, backend=args.backend)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step, (tokens, labels) in enumerate(loader):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(compiled(tokens), labels)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
