# doctor-expect: PT-RUN015
# doctor-args:
# doctor-options:
# doctor-bug: the custom collate_fn builds the label tensor from each record's "split" field (always 0 for training records) instead of "label": the labels are constant in every batch
"""Records as dicts, a custom collate_fn, and a tokenised-text-like bag-of-features model."""
import random

import torch
import torch.nn as nn
from torch.utils.data import DataLoader


def make_records(n, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        feats = [rng.gauss(0, 1) for _ in range(12)]
        out.append({"features": feats, "label": int(feats[0] + feats[1] > 0), "split": 0, "id": rng.random()})
    return out


def collate(records):
    x = torch.tensor([r["features"] for r in records])
    y = torch.tensor([r["split"] for r in records])
    return x, y


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = make_records(400)
    loader = DataLoader(train, batch_size=40, shuffle=True, collate_fn=collate)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(2):
        for x, y in loader:
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, loss.item())
