# doctor-expect: PT-RUN015
# doctor-args:
# doctor-options:
# doctor-bug: a bias column of ones is appended to the feature matrix and the label is then taken as table[:, -1]: the label is the constant 1 in every batch
"""Numpy preprocessing pipeline feeding a torch regressor."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def load_raw(n=300, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, 5))
    target = feats @ np.array([1.0, -0.5, 2.0, 0.0, 0.3]) + 0.1 * rng.normal(size=n)
    return np.column_stack([feats, target])


def preprocess(table):
    table = np.hstack([table, np.ones((len(table), 1))])
    x = table[:, :5]
    y = table[:, -1:]
    x = (x - x.mean(0)) / x.std(0)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = preprocess(load_raw())
    loader = DataLoader(TensorDataset(x, y), batch_size=30, shuffle=True)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.5f}")
