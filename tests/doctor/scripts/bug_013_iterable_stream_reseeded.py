# doctor-expect: PT-RUN013
# doctor-args:
# doctor-options:
# doctor-bug: the IterableDataset's __iter__ builds its generator with manual_seed(self.seed) every time it is iterated: each epoch streams exactly the same samples in the same order
"""Streaming synthetic data through an IterableDataset with an in-dataset shuffle buffer."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, IterableDataset


class ShuffledStream(IterableDataset):
    def __init__(self, n=192, buffer=64, seed=7):
        self.n, self.buffer, self.seed = n, buffer, seed
        self.w = torch.randn(6)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        buf = []
        for _ in range(self.n):
            x = torch.randn(6, generator=g)
            buf.append((x, (x @ self.w > 0).float()))
            if len(buf) == self.buffer:
                yield buf.pop(int(torch.randint(len(buf), (1,), generator=g)))
        while buf:
            yield buf.pop(int(torch.randint(len(buf), (1,), generator=g)))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(ShuffledStream(), batch_size=24)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(4):
        total = 0.0
        for x, y in loader:
            loss = nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(epoch, total)
