# doctor-expect: PT-RUN011
# doctor-args:
# doctor-options:
# doctor-bug: the optimizer was switched from SGD to Adam but kept SGD's lr=0.5: every Adam step moves each weight by ~0.5, an update-to-weight ratio around 1 per step (1000x the usual 1e-3)
"""Config-driven training where the optimizer name and LR live in a dict."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

CONFIG = {"optimizer": "adam", "lr": 0.5, "epochs": 3, "batch_size": 32}


def build_optimizer(params, cfg):
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9)
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"])
    raise ValueError(cfg["optimizer"])


def main(cfg=CONFIG):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(320, 10)
    y = (x[:, 0] - x[:, 1] + 0.5 * x[:, 2] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg["batch_size"], shuffle=True)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = build_optimizer(model.parameters(), cfg)
    for epoch in range(cfg["epochs"]):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
