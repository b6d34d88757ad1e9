"""Data loading for a folder of JPEGs listed in train.csv / val.csv."""

import csv
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as T


class CsvImages(Dataset):
    def __init__(self, root: Path, split: str, transform: T.Transform) -> None:
        with open(root / f"{split}.csv", newline="") as fh:
            self.items = [(root / row["path"], int(row["label"])) for row in csv.DictReader(fh)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        image = Image.open(path).convert("RGB")  # decoded per item
        return self.transform(image), label


def make_loaders(root: Path, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    torch.manual_seed(seed)
    train_tf = T.Compose([T.RandomResizedCrop(160), T.RandomHorizontalFlip(), T.ToImage(), T.ToDtype(torch.float32, scale=True)])
    val_tf = T.Compose([T.Resize(182), T.CenterCrop(160), T.ToImage(), T.ToDtype(torch.float32, scale=True)])
    train_loader = DataLoader(
        CsvImages(root, "train", train_tf), batch_size=batch_size, shuffle=True,
        num_workers=8, pin_memory=True, persistent_workers=True, drop_last=True,
    )
    val_loader = DataLoader(CsvImages(root, "val", val_tf), batch_size=2 * batch_size, pin_memory=True)
    return train_loader, val_loader
