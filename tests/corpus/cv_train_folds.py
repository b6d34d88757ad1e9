"""Stratified 5-fold training of a small MLP on tabular features; a fresh model and optimizer per fold."""
import numpy as np
import torch
import torch.nn as nn
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import DataLoader, TensorDataset

SEED, EPOCHS, FOLDS = 0, 40, 5


def build_model(n_features):
    return nn.Sequential(nn.Linear(n_features, 128), nn.ReLU(inplace=True), nn.Dropout(0.2),
                         nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Linear(64, 2))


@torch.no_grad()
def predict_proba(model, x, device):
    model.eval()
    return torch.softmax(model(x.to(device)), dim=1)[:, 1].cpu()


def main():
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = np.load("features.npz")
    x = torch.tensor(data["x"], dtype=torch.float32)
    y = torch.tensor(data["y"], dtype=torch.long)
    oof = torch.zeros(len(y))
    skf = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    for fold, (tr, va) in enumerate(skf.split(x.numpy(), y.numpy())):
        model = build_model(x.size(1))
        model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
        criterion = nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(SEED + fold)
        loader = DataLoader(TensorDataset(x[tr], y[tr]), batch_size=256, shuffle=True, generator=g,
                            pin_memory=device.type == "cuda")
        for epoch in range(EPOCHS):
            model.train()
            epoch_loss = torch.zeros((), device=device)
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                optimizer.zero_grad()
                loss = criterion(model(xb), yb)
                loss.backward()
                optimizer.step()
                epoch_loss += loss.detach() * xb.size(0)
            if epoch % 10 == 9:
                print(f"fold {fold} epoch {epoch}: loss {epoch_loss.item() / len(tr):.4f}")
        oof[va] = predict_proba(model, x[va], device)
        torch.save(model.state_dict(), f"mlp_fold{fold}.pt")
    accuracy = ((oof > 0.5).long() == y).float().mean()
    print(f"out-of-fold accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
