"""TransE knowledge-graph embeddings with negative sampling and a margin ranking loss."""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class TransE(nn.Module):
    def __init__(self, n_ent, n_rel, dim=200, p_norm=1):
        super().__init__()
        self.ent = nn.Embedding(n_ent, dim)
        self.rel = nn.Embedding(n_rel, dim)
        nn.init.uniform_(self.ent.weight, -6 / dim ** 0.5, 6 / dim ** 0.5)
        nn.init.uniform_(self.rel.weight, -6 / dim ** 0.5, 6 / dim ** 0.5)
        self.p = p_norm

    def score(self, h, r, t):
        return -(self.ent(h) + self.rel(r) - self.ent(t)).norm(p=self.p, dim=-1)

    @torch.no_grad()
    def normalize_entities(self):
        self.ent.weight.div_(self.ent.weight.norm(dim=-1, keepdim=True).clamp(min=1e-12))


def corrupt(h, r, t, n_ent):
    mask = torch.rand(h.shape, device=h.device) < 0.5
    rand = torch.randint(0, n_ent, h.shape, device=h.device)
    return torch.where(mask, rand, h), r, torch.where(mask, t, rand)


@torch.no_grad()
def mean_rank(model, triples, n_ent, device, limit=2000):
    model.eval()
    ranks = []
    all_ent = torch.arange(n_ent, device=device)
    for h, r, t in triples[:limit].tolist():
        scores = model.score(torch.full_like(all_ent, h), torch.full_like(all_ent, r), all_ent)
        ranks.append((scores > scores[t]).sum().item() + 1)
    return float(np.mean(ranks))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="data/fb15k/train.npy")
    ap.add_argument("--valid", default="data/fb15k/valid.npy")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--margin", type=float, default=1.0)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train = torch.from_numpy(np.load(args.train)).long()
    valid = torch.from_numpy(np.load(args.valid)).long()
    n_ent = int(max(train[:, 0].max(), train[:, 2].max())) + 1
    n_rel = int(train[:, 1].max()) + 1
    loader = DataLoader(TensorDataset(train), batch_size=4096, shuffle=True)
    model = TransE(n_ent, n_rel).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(args.epochs):
        model.train()
        for (batch,) in loader:
            h, r, t = batch.to(device).unbind(1)
            model.normalize_entities()
            pos = model.score(h, r, t)
            neg = model.score(*corrupt(h, r, t, n_ent))
            loss = F.relu(args.margin - pos + neg).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 50 == 0:
            print(f"epoch {epoch} loss {loss.item():.4f} valid mean rank {mean_rank(model, valid, n_ent, device):.1f}")
    torch.save(model.state_dict(), "transe_fb15k.pt")


if __name__ == "__main__":
    main()
