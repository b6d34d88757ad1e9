"""Monte-Carlo dropout regression: dropout stays active at prediction time to sample the posterior."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class MCDropoutNet(nn.Module):
    def __init__(self, d_in, hidden=200, p=0.1):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self.p = p

    def forward(self, x, mc=False):
        # MC dropout: sample masks at test time too when mc=True
        h = F.dropout(F.relu(self.fc1(x)), p=self.p, training=self.training or mc)
        h = F.dropout(F.relu(self.fc2(h)), p=self.p, training=self.training or mc)
        return self.out(h).squeeze(-1)


@torch.no_grad()
def predict_mc(model, x, n_samples=50):
    model.eval()
    samples = torch.stack([model(x, mc=True) for _ in range(n_samples)])  # (S, N)
    return samples.mean(0), samples.std(0)


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-4, 4, size=(2000, 1)).astype(np.float32)
    y = (np.sin(x[:, 0]) + 0.1 * rng.standard_normal(2000)).astype(np.float32)
    perm = rng.permutation(len(x))
    tr, te = perm[:1600], perm[1600:]
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x[tr]), torch.from_numpy(y[tr])), batch_size=64,
                        shuffle=True, generator=g)
    model = MCDropoutNet(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    for epoch in range(300):
        model.train()
        total = torch.zeros(())
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        if epoch % 50 == 0:
            print(f"epoch {epoch}: mse {total.item() / len(loader):.4f}")
    mean, std = predict_mc(model, torch.from_numpy(x[te]))
    rmse = (mean - torch.from_numpy(y[te])).pow(2).mean().sqrt()
    inside = ((torch.from_numpy(y[te]) - mean).abs() < 2 * std).float().mean()
    print(f"test rmse {rmse:.4f}, 2-sigma coverage {inside:.3f}")


if __name__ == "__main__":
    main()
