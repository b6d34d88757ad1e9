"""U-Net for binary segmentation of microscopy images stored as PNG pairs."""
import glob
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class SegmentationFolder(Dataset):
    def __init__(self, root):
        self.images = sorted(glob.glob(os.path.join(root, "images", "*.png")))
        self.masks = sorted(glob.glob(os.path.join(root, "masks", "*.png")))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = np.asarray(Image.open(self.images[i]).convert("L"), dtype=np.float32) / 255.0
        mask = np.asarray(Image.open(self.masks[i]), dtype=np.float32) > 0
        return torch.from_numpy(img)[None], torch.from_numpy(mask.astype(np.float32))[None]


def double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, base=32):
        super().__init__()
        self.down1, self.down2, self.down3 = double_conv(1, base), double_conv(base, 2 * base), double_conv(2 * base, 4 * base)
        self.up = nn.UpsamplingBilinear2d(scale_factor=2)
        self.conv_up2 = double_conv(6 * base, 2 * base)
        self.conv_up1 = double_conv(3 * base, base)
        self.head = nn.Conv2d(base, 1, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        d3 = self.down3(F.max_pool2d(d2, 2))
        u2 = self.conv_up2(torch.cat([self.up(d3), d2], dim=1))
        u1 = self.conv_up1(torch.cat([self.up(u2), d1], dim=1))
        return self.head(u1)  # (B, 1, H, W) logits


def dice_score(logits, target, eps=1e-6):
    pred = (logits > 0).float()
    inter = (pred * target).sum((1, 2, 3))
    return ((2 * inter + eps) / (pred.sum((1, 2, 3)) + target.sum((1, 2, 3)) + eps)).mean()


if __name__ == "__main__":
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(0)
    train_loader = DataLoader(SegmentationFolder("data/train"), batch_size=8, shuffle=True, generator=g, pin_memory=True)
    val_loader = DataLoader(SegmentationFolder("data/val"), batch_size=8, pin_memory=True)
    model = UNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.BCEWithLogitsLoss()
    for epoch in range(40):
        model.train()
        for img, mask in train_loader:
            img, mask = img.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(img), mask)
            loss.backward()
            optimizer.step()
        model.eval()
        dice = torch.zeros((), device=device)
        with torch.no_grad():
            for img, mask in val_loader:
                img, mask = img.to(device), mask.to(device)
                dice += dice_score(model(img), mask) * img.size(0)
        print(f"epoch {epoch} val dice {dice.item() / len(val_loader.dataset):.4f}")
    torch.save(model.state_dict(), "unet.pt")
