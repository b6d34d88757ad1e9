# doctor-expect: PT-RUN016
# doctor-args:
# doctor-options:
# doctor-bug: Dataset.__getitem__ augments each sample with a pure-Python loop over its 256 values (num_workers=0) while the model is tiny: most of each step's wall time is spent waiting for the next batch
"""Signal classifier with a per-sample, pure-Python augmentation."""
import math
import random

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class Signals(Dataset):
    def __init__(self, n, length=256, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.data = torch.randn(n, length, generator=g)
        self.labels = (self.data[:, :8].mean(1) > 0).long()
        self.rng = random.Random(seed)

    def __len__(self):
        return len(self.data)

    def augment(self, row):
        phase = self.rng.random() * 2 * math.pi
        values = row.tolist()
        out = [v * (1.0 + 0.05 * math.sin(phase + 0.01 * i)) + self.rng.gauss(0, 0.01) for i, v in enumerate(values)]
        return torch.tensor(out)

    def __getitem__(self, i):
        return self.augment(self.data[i]), self.labels[i]


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(Signals(480), batch_size=32, shuffle=True, num_workers=0)
    model = nn.Sequential(nn.Linear(256, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(2):
        for x, y in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
