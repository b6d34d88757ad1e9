# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""IterableDataset that streams fresh synthetic samples every epoch (its generator advances, never reset)."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, IterableDataset


class Stream(IterableDataset):
    def __init__(self, samples_per_epoch, seed=0):
        self.n = samples_per_epoch
        self.gen = torch.Generator().manual_seed(seed)
        self.w = torch.randn(6, 2, generator=self.gen)

    def __iter__(self):
        for _ in range(self.n):
            x = torch.randn(6, generator=self.gen)
            yield x, (x @ self.w).argmax()


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(Stream(256), batch_size=32)
    model = nn.Sequential(nn.Linear(6, 24), nn.ReLU(), nn.Linear(24, 2))
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    for epoch in range(3):
        total = 0.0
        for x, y in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 8:.4f}")
