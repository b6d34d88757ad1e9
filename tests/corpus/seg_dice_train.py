"""Liver lesion segmentation: soft-Dice training on pre-extracted 2D slices (numpy shards)."""
import glob

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def load_slices(pattern):
    shards = [np.load(p) for p in sorted(glob.glob(pattern))]
    x = np.concatenate([s["image"] for s in shards]).astype(np.float32)[:, None]  # (N, 1, H, W)
    y = np.concatenate([s["mask"] for s in shards]).astype(np.float32)[:, None]
    return torch.from_numpy(x), torch.from_numpy(y)


def standardize(x, eps=1e-5):
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def soft_dice(probs, target, eps=1.0):
    inter = (probs * target).sum((1, 2, 3))
    union = probs.sum((1, 2, 3)) + target.sum((1, 2, 3))
    return ((2 * inter + eps) / (union + eps)).mean()


def log_intensity(x):
    # CT windows are heavy-tailed; compress them before standardizing
    return torch.log(1 + x.clamp_min(0))


net = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.SiLU(),
    nn.Conv2d(32, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.SiLU(),
    nn.Conv2d(32, 1, 1),
)

if __name__ == "__main__":
    torch.manual_seed(7)
    x_train, y_train = load_slices("shards/train_*.npz")
    g = torch.Generator().manual_seed(7)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=16, shuffle=True, generator=g)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    for epoch in range(25):
        net.train()
        epoch_dice = torch.zeros(())
        for img, mask in loader:
            img = standardize(log_intensity(img))
            probs = torch.sigmoid(net(img))
            dice = soft_dice(probs, mask)
            loss = torch.tensor(1.0 - dice.item(), requires_grad=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_dice += dice.detach()
        print(f"epoch {epoch}: mean dice {epoch_dice.item() / len(loader):.4f}")
    torch.save(net.state_dict(), "lesion_seg.pt")
