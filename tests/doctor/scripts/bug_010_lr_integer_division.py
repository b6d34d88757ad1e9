# doctor-expect: PT-RUN010
# doctor-args: --batch-size 64
# doctor-options:
# doctor-bug: the linear LR scaling rule uses integer division (args.lr * args.batch_size // 256 == 0.0): the optimizer runs with lr 0 and the loss does not move at all
"""Image-like classifier with the linear learning-rate scaling rule."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def get_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1, help="LR for a batch of 256")
    ap.add_argument("--epochs", type=int, default=5)
    return ap.parse_args()


def main():
    args = get_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(384, 3, 4, 4)
    y = (x.mean((1, 2, 3)) > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 64), nn.ReLU(), nn.Linear(64, 2))
    lr = args.lr * args.batch_size // 256
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} lr {lr} loss {total / len(loader):.5f}")


if __name__ == "__main__":
    main()
