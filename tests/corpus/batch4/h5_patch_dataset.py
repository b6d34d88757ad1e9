"""Histology patch classifier trained from a single HDF5 file of 96x96 patches."""
import argparse

import h5py
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from torchvision import models


class PatchH5(Dataset):
    def __init__(self, path, split, augment=False):
        self.h5 = h5py.File(path, "r")
        self.x = self.h5[f"{split}/x"]
        self.y = self.h5[f"{split}/y"]
        self.augment = augment

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        img = self.x[i].astype(np.float32) / 255.0
        if self.augment:
            if np.random.rand() < 0.5:
                img = img[:, ::-1]
            if np.random.rand() < 0.5:
                img = img[::-1, :]
            img = np.rot90(img, np.random.randint(4)).copy()
        img = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        return img, int(self.y[i])


def build_net():
    net = models.resnet18(weights=None, num_classes=2)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return net


def evaluate(net, loader, device):
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (net(x.to(device)).argmax(1).cpu() == y).sum().item()
    return correct / len(loader.dataset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--h5", default="data/pcam.h5")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()

    torch.manual_seed(0)
    np.random.seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_loader = DataLoader(PatchH5(args.h5, "train", augment=True), batch_size=256, shuffle=True,
                              num_workers=args.workers, pin_memory=True, persistent_workers=True)
    val_loader = DataLoader(PatchH5(args.h5, "valid"), batch_size=512, num_workers=args.workers, pin_memory=True)

    net = build_net().to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.2)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        net.train()
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad()
            criterion(net(x), y).backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch} val acc {evaluate(net, val_loader, device):.4f}")
    torch.save(net.state_dict(), "pcam_resnet18.pt")


if __name__ == "__main__":
    main()
