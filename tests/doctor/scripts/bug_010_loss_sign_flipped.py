# doctor-expect: PT-RUN010
# doctor-args:
# doctor-options:
# doctor-bug: the contrastive-style objective returns the negated distance (the sign is flipped when "similarity" was turned into a loss): the optimizer maximises the error and the loss diverges to large negative values step after step
"""Embedding regression written as a similarity objective."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Projector(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 8))

    def forward(self, x):
        return self.net(x)


def similarity_loss(pred, target):
    dist = (pred - target).pow(2).sum(1).mean()
    return -dist


def run(epochs=3, lr=3e-3):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(320, 12)
    target = x[:, :8] * 0.5
    loader = DataLoader(TensorDataset(x, target), batch_size=32, shuffle=True)
    model = Projector()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for epoch in range(epochs):
        for xb, tb in loader:
            opt.zero_grad()
            loss = similarity_loss(model(xb), tb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.3e}")


if __name__ == "__main__":
    run()
