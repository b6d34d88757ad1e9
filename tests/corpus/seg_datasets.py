"""Dataset classes for the segmentation experiments (no training here)."""
import json
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


class PairedFlip:
    """Random horizontal/vertical flips applied identically to image and mask."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img, mask):
        if random.random() < self.p:
            img, mask = img.flip(-1), mask.flip(-1)
        if random.random() < self.p:
            img, mask = img.flip(-2), mask.flip(-2)
        return img, mask


class CocoStyleSegmentation(Dataset):
    def __init__(self, root, split="train", size=512, augment=None):
        self.root = Path(root)
        meta = json.loads((self.root / f"{split}.json").read_text())
        self.items = meta["items"]
        self.class_ids = {c: i for i, c in enumerate(meta["classes"])}
        self.size = size
        self.augment = augment

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        img = Image.open(self.root / item["image"]).convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        mask = Image.open(self.root / item["mask"]).resize((self.size, self.size), Image.NEAREST)
        img = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)  # (3, H, W)
        mask = torch.from_numpy(np.asarray(mask, dtype=np.int64))  # (H, W)
        if self.augment is not None:
            img, mask = self.augment(img, mask)
        return img.contiguous(), mask.contiguous()


def class_weights(dataset, n_classes, max_items=500):
    counts = torch.zeros(n_classes)
    for i in range(min(len(dataset), max_items)):
        _, mask = dataset[i]
        counts += torch.bincount(mask.flatten(), minlength=n_classes)[:n_classes].float()
    freq = counts / counts.sum()
    return 1.0 / torch.log1p(100.0 * freq).clamp_min(1e-3)
