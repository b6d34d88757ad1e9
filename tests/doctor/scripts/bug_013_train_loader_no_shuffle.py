# doctor-expect: PT-RUN013
# doctor-args:
# doctor-options:
# doctor-bug: the training DataLoader is built with shuffle=False (copied from the validation loader): every epoch serves the batches in the same order
"""Loaders built by one helper for both splits."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class PointsDataset(Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 2, generator=g)
        r = self.x.norm(dim=1)
        self.y = (r > 1.0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def make_loader(ds, batch_size=32):
    return DataLoader(ds, batch_size=batch_size, shuffle=False, drop_last=False)


def train(model, train_loader, val_loader, epochs=4):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = sum((model(x).argmax(1) == y).sum().item() for x, y in val_loader) / len(val_loader.dataset)
        print(f"epoch {epoch} val acc {acc:.3f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    train(net, make_loader(PointsDataset(256, 0)), make_loader(PointsDataset(128, 1)))
