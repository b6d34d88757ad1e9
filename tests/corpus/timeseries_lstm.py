"""Multi-step load forecasting with an LSTM; sliding windows over an hourly CSV."""
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

WINDOW, HORIZON, BATCH = 168, 24, 32


class WindowDataset(Dataset):
    def __init__(self, series, window=WINDOW, horizon=HORIZON):
        self.series = torch.as_tensor(series, dtype=torch.float32)
        self.window, self.horizon = window, horizon

    def __len__(self):
        return len(self.series) - self.window - self.horizon + 1

    def __getitem__(self, i):
        x = self.series[i:i + self.window]
        y = self.series[i + self.window:i + self.window + self.horizon]
        return x.unsqueeze(-1), y


class Forecaster(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=2, batch_first=True, dropout=0.2)
        self.head = nn.Linear(hidden, HORIZON)

    def forward(self, x):
        out, _ = self.lstm(x)  # (B, WINDOW, hidden)
        last = out[:, -1].reshape(32, -1)
        return self.head(last)  # (B, HORIZON)


def evaluate(model, loader, device):
    model.eval()
    se = torch.zeros((), device=device)
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            se += ((model(x) - y) ** 2).sum()
    return (se / (len(loader.dataset) * HORIZON)).sqrt().item()


def main():
    torch.manual_seed(11)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    load = pd.read_csv("hourly_load.csv")["mw"].to_numpy(np.float32)
    mean, std = load.mean(), load.std()
    load = (load - mean) / std
    split = int(0.8 * len(load))
    g = torch.Generator().manual_seed(11)
    train_loader = DataLoader(WindowDataset(load[:split]), batch_size=BATCH, shuffle=True, generator=g,
                              num_workers=2, pin_memory=True, drop_last=True)
    val_loader = DataLoader(WindowDataset(load[split:]), batch_size=BATCH, num_workers=2, pin_memory=True)
    model = Forecaster().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.SmoothL1Loss()

    model.train()
    for epoch in range(30):
        for x, y in train_loader:
            x = x.to(device, non_blocking=True)
            pred = model(x)
            loss = criterion(pred, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        rmse = evaluate(model, val_loader, device)
        print(f"epoch {epoch}: val rmse {rmse * std:.2f} MW")
    torch.save(model.state_dict(), "forecaster.pt")


if __name__ == "__main__":
    main()
