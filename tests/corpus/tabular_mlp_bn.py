"""MLP with BatchNorm for a tabular regression task (house prices)."""
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

SEED = 17
EPOCHS = 60
BATCH_SIZE = 256


def load_frame(path):
    df = pd.read_csv(path)
    y = np.log1p(df.pop("SalePrice").to_numpy(dtype=np.float32))
    x = df.select_dtypes("number").fillna(0).to_numpy(dtype=np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return x, y


class TabularNet(nn.Module):
    def __init__(self, n_features, hidden=256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(0.2),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)  # (B,)


def main():
    torch.manual_seed(SEED)
    x, y = load_frame("train.csv")
    idx = np.random.permutation(len(x))
    n_val = len(x) // 5
    val_idx, train_idx = idx[:n_val], idx[n_val:]
    train_ds = TensorDataset(torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx]))
    val_ds = TensorDataset(torch.from_numpy(x[val_idx]), torch.from_numpy(y[val_idx]))
    train_loader = DataLoader(train_ds, batch_size=BATCH_SIZE, shuffle=True)
    val_loader = DataLoader(val_ds, batch_size=1024)

    model = TabularNet(x.shape[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    criterion = nn.MSELoss()
    for epoch in range(EPOCHS):
        model.train()
        epoch_loss = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            epoch_loss += loss
        model.eval()
        with torch.no_grad():
            val_sq = sum(((model(xb) - yb) ** 2).sum() for xb, yb in val_loader)
        rmse = (val_sq / len(val_ds)).sqrt()
        print(f"epoch {epoch}: train {epoch_loss / len(train_loader):.4f} val rmse {rmse:.4f}")
    torch.save(model.state_dict(), "tabular_mlp.pt")


if __name__ == "__main__":
    main()
