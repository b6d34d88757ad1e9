"""Lightweight U-Net for road segmentation; tiles read from disk by a worker pool."""
import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class Tiles(Dataset):
    def __init__(self, root):
        self.images = sorted(Path(root, "img").glob("*.png"))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = np.asarray(Image.open(self.images[i]).convert("RGB"), dtype=np.float32) / 255.0
        mask = np.asarray(Image.open(str(self.images[i]).replace("/img/", "/mask/")), dtype=np.float32) / 255.0
        return torch.from_numpy(img).permute(2, 0, 1).contiguous(), torch.from_numpy(mask)[None]


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, c=32):
        super().__init__()
        self.e1, self.e2, self.e3 = block(3, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.d2, self.d1 = block(6 * c, 2 * c), block(3 * c, c)
        self.head = nn.Conv2d(c, 1, 1)
        self.token_proj = nn.Linear(4 * c, 4 * c)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))  # (B, C, H/4, W/4)
        B, C, H, W = e3.shape
        tokens = e3.permute(0, 2, 3, 1).view(B, H * W, C)  # (B, HW, C): merges adjacent dims, no copy
        tokens = self.token_proj(tokens)
        e3 = tokens.transpose(1, 2).reshape(B, C, H, W)
        d2 = self.d2(torch.cat([F.interpolate(e3, scale_factor=2.0), e2], dim=1))
        d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], dim=1))
        return self.head(d1)


def soft_iou(logits, target, eps=1.0):
    probs = torch.sigmoid(logits)
    inter = (probs * target).sum((1, 2, 3))
    union = (probs + target - probs * target).sum((1, 2, 3))
    return ((inter + eps) / (union + eps)).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="roads")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(0)
    train_loader = DataLoader(Tiles(Path(args.root, "train")), batch_size=16, shuffle=True, num_workers=4,
                              pin_memory=device.type == "cuda", generator=g, persistent_workers=True)
    val_loader = DataLoader(Tiles(Path(args.root, "val")), batch_size=16, num_workers=4,
                            pin_memory=device.type == "cuda")
    model = UNet().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train()
        for img, mask in train_loader:
            img, mask = img.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            logits = model(img)
            loss = F.binary_cross_entropy_with_logits(logits, mask) + (1 - soft_iou(logits, mask))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        iou = torch.zeros((), device=device)
        with torch.no_grad():
            for img, mask in val_loader:
                img, mask = img.to(device), mask.to(device)
                iou += soft_iou(model(img), mask) * img.size(0)
        print(f"epoch {epoch}: val soft-IoU {iou.item() / len(val_loader.dataset):.4f}")
    torch.save(model.state_dict(), "unet_roads.pt")


if __name__ == "__main__":
    main()
