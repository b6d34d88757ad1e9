# doctor-expect: PT-RUN005
# doctor-args:
# doctor-options:
# doctor-bug: 10 micro-batches per epoch with accumulation 4: the last 2 micro-batches of every epoch are backward-ed but never stepped (zero_grad at the start of the next epoch throws them away)
"""Accumulating trainer where the final partial window is never stepped."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ACCUM_STEPS = 4
EPOCHS = 8


def make_loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 8, generator=g)
    y = x @ torch.randn(8, 2, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)


def train(model, loader, optimizer):
    for epoch in range(EPOCHS):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        for i, (xb, yb) in enumerate(loader):
            loss = F.mse_loss(model(xb), yb) / ACCUM_STEPS
            loss.backward()
            if (i + 1) % ACCUM_STEPS == 0:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        print(f"epoch {epoch}: loss {loss.item() * ACCUM_STEPS:.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    train(net, make_loader(), torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9))
