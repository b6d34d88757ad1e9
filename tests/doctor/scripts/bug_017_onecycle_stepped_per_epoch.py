# doctor-expect: PT-RUN017
# doctor-args: --epochs 6
# doctor-options: --steps 24
# doctor-bug: OneCycleLR is sized in batches (epochs * steps_per_epoch = 48 steps, warm-up 30% of them) but scheduler.step() is called once per epoch: after 3 epochs the applied LR has barely left its starting value max_lr/25 and the warm-up would need 14 epochs
"""Small CNN on synthetic images with OneCycleLR."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def get_args():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--max-lr", type=float, default=0.05)
    return p.parse_args()


def main():
    args = get_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(256, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, drop_last=True)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(32, 2))
    opt = torch.optim.SGD(model.parameters(), lr=args.max_lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.max_lr, epochs=args.epochs,
                                                steps_per_epoch=len(loader))
    for epoch in range(args.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        sched.step()
        print(epoch, sched.get_last_lr(), loss.item())


if __name__ == "__main__":
    main()
