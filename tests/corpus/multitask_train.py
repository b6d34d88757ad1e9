"""Train a shared-trunk model on depth + semantic segmentation jointly (NYUv2-style pre-packed arrays)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

TASKS = ["segmentation", "depth"]


class Trunk(nn.Module):
    def __init__(self, channels=(32, 64, 128)):
        super().__init__()
        self.channels = list(channels)
        layers, prev = [], 3
        for c in self.channels:
            layers += [nn.Conv2d(prev, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            prev = c
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class MultiTaskNet(nn.Module):
    def __init__(self, n_classes=13):
        super().__init__()
        self.task_names = list(TASKS)
        self.trunk = Trunk()
        heads = {"segmentation": nn.Conv2d(128, n_classes, 1), "depth": nn.Conv2d(128, 1, 1)}
        self.heads = nn.ModuleDict(heads)

    def forward(self, x):
        feats = self.trunk(x)
        return {name: self.heads[name](feats) for name in self.task_names}


def joint_loss(outputs, seg, depth, weights):
    losses = {
        "segmentation": F.cross_entropy(outputs["segmentation"], seg, ignore_index=255),
        "depth": F.l1_loss(outputs["depth"].squeeze(1), depth),
    }
    total = 0.0
    for name, value in losses.items():
        total += weights[name] * value
    return total, {k: v.detach() for k, v in losses.items()}


if __name__ == "__main__":
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    arrays = np.load("nyu_small.npz")
    ds = TensorDataset(torch.from_numpy(arrays["rgb"]).float().div_(255), torch.from_numpy(arrays["seg"]).long(),
                       torch.from_numpy(arrays["depth"]).float())
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=g, drop_last=True, pin_memory=device.type == "cuda")
    model = MultiTaskNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    weights = {"segmentation": 1.0, "depth": 0.5}
    for epoch in range(40):
        model.train()
        sums = {name: torch.zeros((), device=device) for name in TASKS}
        for rgb, seg, depth in loader:
            rgb, seg, depth = rgb.to(device), seg.to(device), depth.to(device)
            loss, parts = joint_loss(model(rgb), seg, depth, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name in TASKS:
                sums[name] += parts[name]
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v.item() / len(loader):.4f}" for k, v in sums.items()))
    torch.save(model.state_dict(), "multitask.pt")
