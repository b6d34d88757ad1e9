"""Credit-default MLP with BatchNorm1d; numpy split through a seeded Generator."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

SEED = 7


class MLP(nn.Module):
    def __init__(self, d_in, widths=(256, 128)):
        super().__init__()
        self.widths = list(widths)  # plain ints, kept for the model card
        layers, prev = [], d_in
        for w in self.widths:
            layers += [nn.Linear(prev, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True), nn.Dropout(0.3)]
            prev = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, 1)

    def forward(self, x):
        return self.head(self.body(x)).squeeze(-1)  # (B,) logits


def main():
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    raw = np.loadtxt("credit_default.csv", delimiter=",", skiprows=1, dtype=np.float32)
    x, y = raw[:, :-1], raw[:, -1]
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    idx = rng.permutation(len(x))
    n_val = len(x) // 10
    val_idx, tr_idx = idx[:n_val], idx[n_val:]
    tr_ds = TensorDataset(torch.from_numpy(x[tr_idx]), torch.from_numpy(y[tr_idx]))
    va_ds = TensorDataset(torch.from_numpy(x[val_idx]), torch.from_numpy(y[val_idx]))
    g = torch.Generator().manual_seed(SEED)
    pin = device.type == "cuda"
    train_loader = DataLoader(tr_ds, batch_size=512, shuffle=True, drop_last=True, generator=g, pin_memory=pin)
    val_loader = DataLoader(va_ds, batch_size=2048, pin_memory=pin)

    model = MLP(x.shape[1]).to(device)
    pos_weight = torch.tensor((1 - y.mean()) / y.mean(), device=device)
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=3)
    for epoch in range(50):
        model.train()
        for xb, yb in train_loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        val_loss = torch.zeros((), device=device)
        with torch.no_grad():
            for xb, yb in val_loader:
                xb, yb = xb.to(device), yb.to(device)
                val_loss += criterion(model(xb), yb) * xb.size(0)
        val_loss = val_loss.item() / len(va_ds)
        scheduler.step(val_loss)
        print(f"epoch {epoch}: val loss {val_loss:.4f}")
    torch.save(model.state_dict(), "credit_mlp.pt")


if __name__ == "__main__":
    main()
