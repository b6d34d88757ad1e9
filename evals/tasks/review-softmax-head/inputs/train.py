"""MLP classifier for tabular features."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def build_model(n_features: int, n_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_features, 128),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(128, n_classes),
        nn.Softmax(dim=1),
    )


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(10_000, 20)
    y = (x[:, :3].sum(dim=1) > 0).long() + (x[:, 3] > 1).long()  # 3 classes
    train_ds = TensorDataset(x[:8000], y[:8000])
    val_x, val_y = x[8000:].to(device), y[8000:].to(device)
    loader = DataLoader(train_ds, batch_size=256, shuffle=True, pin_memory=device.type == "cuda")

    model = build_model(20, 3).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(20):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(val_x).argmax(dim=1) == val_y).float().mean()
        print(f"epoch {epoch}: val accuracy {acc.item():.3f}")


if __name__ == "__main__":
    main()
