# doctor-expect: PT-RUN008
# doctor-args:
# doctor-options:
# doctor-bug: the backbone is frozen with requires_grad_(False) but AdamW is built over model.parameters(): its param group holds tensors that require no grad (with weight decay, AdamW would still shrink them if they ever had a gradient)
"""Transfer learning: a small 'pretrained' backbone frozen, a new head trained, dataclass config."""
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Config:
    lr: float = 1e-3
    weight_decay: float = 0.05
    epochs: int = 3
    batch_size: int = 32


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(20, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        return self.head(self.backbone(x))


def main(cfg: Config):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Net()
    model.backbone.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x = torch.randn(320, 20)
    y = x[:, :5].argmax(-1)
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True)
    for epoch in range(cfg.epochs):
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, loss.item())


if __name__ == "__main__":
    main(Config())
