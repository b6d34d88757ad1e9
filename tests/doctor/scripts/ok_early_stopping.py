# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Early stopping on validation loss with patience and an in-memory best checkpoint."""
import copy

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class EarlyStopping:
    def __init__(self, patience=2, min_delta=1e-4):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.bad_epochs, self.best_state = float("inf"), 0, None

    def update(self, val_loss, model):
        if val_loss < self.best - self.min_delta:
            self.best, self.bad_epochs = val_loss, 0
            self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.bad_epochs += 1
        return self.bad_epochs > self.patience


def split(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(360, 5, generator=g)
    y = (x[:, :2].sum(1, keepdim=True) + 0.3 * torch.randn(360, 1, generator=g))
    return TensorDataset(x[:288], y[:288]), TensorDataset(x[288:], y[288:])


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train_set, val_set = split(0)
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=72, shuffle=False)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    stopper = EarlyStopping()
    for epoch in range(20):
        model.train()
        for xb, yb in train_loader:
            opt.zero_grad()
            nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = sum(nn.functional.mse_loss(model(xb), yb).item() for xb, yb in val_loader) / len(val_loader)
        print(f"epoch {epoch} val {val:.4f}")
        if stopper.update(val, model):
            print("early stop at epoch", epoch)
            break
    model.load_state_dict(stopper.best_state)
