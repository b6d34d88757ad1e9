"""5-fold cross-validation of a 1D-CNN on ECG beats (numpy arrays in memory)."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

N_FOLDS = 5
EPOCHS = 30
SEED = 2024


def make_model(n_classes=5):
    return nn.Sequential(
        nn.Conv1d(1, 32, 7, padding=3), nn.ReLU(inplace=True), nn.MaxPool1d(2),
        nn.Conv1d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool1d(2),
        nn.Conv1d(64, 128, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool1d(1),
        nn.Flatten(), nn.Linear(128, n_classes),
    )


def run_fold(fold, x, y, train_idx, val_idx, device):
    train_ds = TensorDataset(torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx]))
    val_ds = TensorDataset(torch.from_numpy(x[val_idx]), torch.from_numpy(y[val_idx]))
    g = torch.Generator().manual_seed(SEED + fold)
    train_loader = DataLoader(train_ds, batch_size=128, shuffle=True, generator=g)
    val_loader = DataLoader(val_ds, batch_size=512)

    model = make_model().to(device)  # fresh model for every fold
    criterion = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for xb, yb in train_loader:
            model.to(device)
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()

    model.eval()
    correct = torch.zeros((), device=device)
    with torch.no_grad():
        for xb, yb in val_loader:
            xb, yb = xb.to(device), yb.to(device)
            correct += (model(xb).argmax(1) == yb).sum()
    acc = correct.item() / len(val_ds)
    print(f"fold {fold}: acc {acc:.4f}")
    return acc


def main():
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = np.load("ecg_beats.npz")
    x = data["x"].astype(np.float32)[:, None, :]  # (N, 1, 187)
    y = data["y"].astype(np.int64)
    folds = np.array_split(rng.permutation(len(x)), N_FOLDS)
    scores = []
    for fold in range(N_FOLDS):
        val_idx = folds[fold]
        train_idx = np.concatenate([folds[j] for j in range(N_FOLDS) if j != fold])
        scores.append(run_fold(fold, x, y, train_idx, val_idx, device))
    print(f"CV accuracy: {np.mean(scores):.4f} +- {np.std(scores):.4f}")


if __name__ == "__main__":
    main()
