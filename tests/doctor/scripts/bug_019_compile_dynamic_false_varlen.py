# doctor-expect: PT-RUN019
# doctor-args:
# doctor-options:
# doctor-bug: the model is compiled with dynamic=False while the collate function pads each batch only to its own longest sequence: every new sequence length triggers a recompilation (up to the cache limit)
"""Sequence classifier with dynamic padding, compiled "for speed"."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader


class ConvClassifier(nn.Module):
    def __init__(self, vocab=40, dim=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, dim, 3, padding=1)
        self.out = nn.Linear(dim, 2)

    def forward(self, tokens):
        h = torch.relu(self.conv(self.emb(tokens).transpose(1, 2)))
        return self.out(h.mean(-1))


def make_samples(n, gen):
    samples = []
    for _ in range(n):
        length = int(torch.randint(3, 40, (1,), generator=gen))
        seq = torch.randint(1, 40, (length,), generator=gen)
        samples.append((seq, int(seq.float().mean() > 20)))
    return samples


def collate(batch):
    seqs, labels = zip(*batch)
    padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=0)
    return padded, torch.tensor(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="aot_eager")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(make_samples(240, torch.Generator().manual_seed(0)), batch_size=8, shuffle=True,
                        collate_fn=collate)
    model = ConvClassifier()
    compiled = torch.compile(model, dynamic=False, backend=args.backend)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step, (tokens, labels) in enumerate(loader):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(compiled(tokens), labels)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step} len {tokens.shape[1]} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
