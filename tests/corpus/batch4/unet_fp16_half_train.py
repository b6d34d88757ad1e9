"""Binary segmentation of satellite tiles. Trains in half precision to fit 1024x1024 tiles on a 16 GB card."""
import argparse
import glob
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class Tiles(Dataset):
    def __init__(self, root):
        self.images = sorted(glob.glob(os.path.join(root, "img", "*.png")))
        self.masks = [p.replace("/img/", "/mask/") for p in self.images]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = np.asarray(Image.open(self.images[i]).convert("RGB"), dtype=np.float32) / 255.0
        mask = (np.asarray(Image.open(self.masks[i]), dtype=np.uint8) > 127).astype(np.float32)
        return torch.from_numpy(img).permute(2, 0, 1), torch.from_numpy(mask)[None]


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    def __init__(self, w=32):
        super().__init__()
        self.d1, self.d2, self.d3 = block(3, w), block(w, 2 * w), block(2 * w, 4 * w)
        self.u2, self.u1 = block(6 * w, 2 * w), block(3 * w, w)
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        c = self.d3(F.max_pool2d(b, 2))
        b = self.u2(torch.cat([F.interpolate(c, scale_factor=2.0), b], 1))
        a = self.u1(torch.cat([F.interpolate(b, scale_factor=2.0), a], 1))
        return self.head(a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="data/tiles")
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_dl = DataLoader(Tiles(f"{args.root}/train"), batch_size=4, shuffle=True, num_workers=6, pin_memory=True)
    val_dl = DataLoader(Tiles(f"{args.root}/val"), batch_size=4, num_workers=6, pin_memory=True)

    model = SmallUNet().to(device).half()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-4)
    for epoch in range(args.epochs):
        model.train()
        for img, mask in train_dl:
            img, mask = img.to(device).half(), mask.to(device).half()
            loss = F.binary_cross_entropy_with_logits(model(img), mask)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        inter = union = 0.0
        with torch.no_grad():
            for img, mask in val_dl:
                pred = (model(img.to(device).half()) > 0).float()
                mask = mask.to(device)
                inter += (pred * mask).sum().item()
                union += ((pred + mask) > 0).float().sum().item()
        print(f"epoch {epoch} loss {loss.item():.4f} IoU {inter / max(union, 1):.4f}")
    torch.save(model.state_dict(), "unet_tiles_fp16.pt")


if __name__ == "__main__":
    main()
