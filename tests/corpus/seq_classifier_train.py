"""GRU classifier for human-activity recognition from accelerometer windows (UCI HAR, pre-windowed)."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class HARNet(nn.Module):
    def __init__(self, n_channels=9, hidden=128, n_classes=6):
        super().__init__()
        self.gru = nn.GRU(n_channels, hidden, num_layers=2, batch_first=True, dropout=0.3)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden, n_classes)

    def forward(self, x):
        out, _ = self.gru(x)  # (B, 128, hidden)
        return self.fc(self.drop(out[:, -1]))


def evaluate(model, loader):
    correct = total = 0
    with torch.no_grad():
        for windows, labels in loader:
            pred = model(windows).argmax(1)
            correct += (pred == labels).sum().item()
            total += labels.numel()
    return correct / total


def train(model, loader, epochs, lr=1e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    model.train()
    optimizer.zero_grad()
    for epoch in range(epochs):
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            print(loss)
    return model


if __name__ == "__main__":
    torch.manual_seed(0)
    data = np.load("uci_har_windows.npz")
    train_ds = TensorDataset(torch.from_numpy(data["x_train"]).float(), torch.from_numpy(data["y_train"]).long())
    test_ds = TensorDataset(torch.from_numpy(data["x_test"]).float(), torch.from_numpy(data["y_test"]).long())
    g = torch.Generator().manual_seed(0)
    train_loader = DataLoader(train_ds, batch_size=64, shuffle=True, generator=g)
    test_loader = DataLoader(test_ds, batch_size=512)
    model = train(HARNet(), train_loader, epochs=30)
    print(f"test accuracy: {evaluate(model, test_loader):.4f}")
    torch.save(model.state_dict(), "har_gru.pt")
