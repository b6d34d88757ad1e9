# doctor-expect: PT-RUN014
# doctor-args:
# doctor-options:
# doctor-bug: each step takes `next(iter(loader))`, which builds a fresh iterator and returns its first batch: with shuffle=False the very same batch is served at every step
"""Step-based (not epoch-based) training loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

MAX_STEPS = 30
LOG_EVERY = 10


def build():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 16, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))
    return loader, model


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader, model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(MAX_STEPS):
        inputs, targets = next(iter(loader))
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if step % LOG_EVERY == 0:
            print(f"step {step} loss {loss.item():.4f}")
