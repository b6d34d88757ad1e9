# doctor-expect: clean
# doctor-args: --warm-epochs 1
# doctor-options:
# doctor-bug:
"""Two-stage fine-tuning done right: the frozen backbone is left out of the optimizer, then unfrozen and added
as a new param group with a lower LR."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.classifier = nn.Linear(32, 4)

    def forward(self, x):
        return self.classifier(self.backbone(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warm-epochs", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(256, 16)
    y = x[:, :4].argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = Net()
    model.backbone.requires_grad_(False)
    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(args.epochs):
        if epoch == args.warm_epochs:
            model.backbone.requires_grad_(True)
            optimizer.add_param_group({"params": model.backbone.parameters(), "lr": 0.01})
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f} groups {len(optimizer.param_groups)}")


if __name__ == "__main__":
    main()
