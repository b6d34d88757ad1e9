# doctor-expect: PT-RUN008
# doctor-args: --warm-epochs 1
# doctor-options:
# doctor-bug: after the first epoch the backbone is frozen (requires_grad=False) but stays in the SGD optimizer built over all parameters; with zero_grad(set_to_none=False), momentum and weight decay the "frozen" backbone keeps changing
"""Two-stage training: train everything, then freeze the backbone and tune the head."""
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


def set_backbone_trainable(model, trainable):
    for p in model.backbone.parameters():
        p.requires_grad = trainable


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
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for epoch in range(args.epochs):
        set_backbone_trainable(model, epoch < args.warm_epochs)
        for xb, yb in loader:
            optimizer.zero_grad(set_to_none=False)
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
