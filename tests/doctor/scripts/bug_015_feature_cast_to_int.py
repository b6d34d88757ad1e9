# doctor-expect: PT-RUN015
# doctor-args:
# doctor-options:
# doctor-bug: Dataset.__getitem__ casts the already-normalised "ratio" feature (column 2, values in [0, 1)) with int(): input column 2 is 0 in every batch
"""Custom Dataset that assembles a feature vector from a record."""
import random

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class Records(Dataset):
    def __init__(self, n, seed=0):
        rnd = random.Random(seed)
        self.rows = []
        for _ in range(n):
            age, income, ratio = rnd.uniform(18, 80), rnd.gauss(50, 15), rnd.random()
            label = int(ratio > 0.5) ^ int(age > 50)
            self.rows.append((age, income, ratio, label))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        age, income, ratio, label = self.rows[i]
        feats = torch.tensor([(age - 50) / 20, (income - 50) / 15, int(ratio)], dtype=torch.float32)
        return feats, label


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(Records(320), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(3):
        for feats, labels in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(feats), labels)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
