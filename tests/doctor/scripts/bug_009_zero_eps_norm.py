# doctor-expect: PT-RUN009
# doctor-args:
# doctor-options:
# doctor-bug: the hand-written FeatureNorm divides by the per-feature std with no epsilon; feature 3 is constant in the data, so FeatureNorm's output is NaN (0/0) from the first forward and the loss is NaN
"""Model with a hand-rolled per-batch feature normalisation layer."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class FeatureNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.shift = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        mu = x.mean(0, keepdim=True)
        sigma = x.std(0, keepdim=True)
        return (x - mu) / sigma * self.scale + self.shift


def load_table(n=320, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g) * 3 + 1
    x[:, 3] = 1.0
    y = (x[:, 0] + x[:, 5] > 2).long()
    return TensorDataset(x, y)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(FeatureNorm(8), nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(load_table(), batch_size=32, shuffle=True)
    for epoch in range(3):
        for x, y in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
