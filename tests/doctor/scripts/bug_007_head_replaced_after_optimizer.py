# doctor-expect: PT-RUN007
# doctor-args: --num-classes 5
# doctor-options:
# doctor-bug: the classifier head is replaced (model.fc = nn.Linear(..., num_classes)) after the optimizer was built: the new head receives gradients but is in no optimizer and never changes
"""Transfer-learning script: build a backbone, adapt the head to the dataset."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Backbone(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def get_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-classes", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=3)
    return ap.parse_args()


def main():
    args = get_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Backbone()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    if model.fc.out_features != args.num_classes:
        model.fc = nn.Linear(model.fc.in_features, args.num_classes)
    x = torch.randn(320, 32)
    y = (x[:, : args.num_classes]).argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
