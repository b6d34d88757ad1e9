# doctor-expect: PT-RUN013
# doctor-args:
# doctor-options:
# doctor-bug: the hand-written BalancedSampler draws its permutation once in __init__ and __iter__ replays it: every epoch serves the training batches in the same order
"""Class-balanced training with a custom Sampler."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Sampler, TensorDataset


class BalancedSampler(Sampler):
    """Interleaves the indices of each class so every batch is roughly balanced."""

    def __init__(self, labels, seed=0):
        g = torch.Generator().manual_seed(seed)
        per_class = [torch.nonzero(labels == c).flatten() for c in labels.unique()]
        per_class = [idx[torch.randperm(len(idx), generator=g)] for idx in per_class]
        n = min(len(idx) for idx in per_class)
        self.order = torch.stack([idx[:n] for idx in per_class], 1).flatten().tolist()

    def __iter__(self):
        return iter(self.order)

    def __len__(self):
        return len(self.order)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(400, 10)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0.6).long()
    dataset = TensorDataset(x, y)
    loader = DataLoader(dataset, batch_size=16, sampler=BalancedSampler(y))
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(4):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} batches {len(loader)} loss {loss.item():.4f}")
