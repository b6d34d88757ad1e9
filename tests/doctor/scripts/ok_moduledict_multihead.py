# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Multi-task model with an nn.ModuleDict of heads; each batch trains every head; eval in eval mode."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

TASKS = {"age": 1, "gender": 2, "region": 5}


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(14, 40), nn.BatchNorm1d(40), nn.ReLU(), nn.Dropout(0.2))
        self.heads = nn.ModuleDict({k: nn.Linear(40, n) for k, n in TASKS.items()})

    def forward(self, x):
        h = self.trunk(x)
        return {k: head(h) for k, head in self.heads.items()}


def losses(out, age, gender, region):
    return {"age": F.mse_loss(out["age"].squeeze(-1), age), "gender": F.cross_entropy(out["gender"], gender),
            "region": F.cross_entropy(out["region"], region)}


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(480, 14)
    data = TensorDataset(x, x[:, 0] * 2, (x[:, 1] > 0).long(), x[:, 2:7].argmax(-1))
    train, val = torch.utils.data.random_split(data, [400, 80], generator=torch.Generator().manual_seed(0))
    model = Model()
    weights = {"age": 0.5, "gender": 1.0, "region": 1.0}
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(3):
        model.train()
        for xb, *ys in DataLoader(train, batch_size=40, shuffle=True):
            parts = losses(model(xb), *ys)
            loss = sum(weights[k] * v for k, v in parts.items())
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            xv, *yv = next(iter(DataLoader(val, batch_size=80)))
            print(epoch, {k: round(v.item(), 3) for k, v in losses(model(xv), *yv).items()})
