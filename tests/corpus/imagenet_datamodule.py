"""LightningDataModule for an ImageNet-layout folder (train/ and val/ with one sub-folder per class)."""
import os

import lightning as L
import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class ImageNetDataModule(L.LightningDataModule):
    def __init__(self, root, batch_size=256, num_workers=8, image_size=224, seed=0):
        super().__init__()
        self.root = root
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.image_size = image_size
        self.seed = seed
        self.train_set = self.val_set = None

    def train_transform(self):
        return transforms.Compose([
            transforms.RandomResizedCrop(self.image_size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ])

    def val_transform(self):
        return transforms.Compose([
            transforms.Resize(int(self.image_size / 0.875)),
            transforms.CenterCrop(self.image_size),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ])

    def setup(self, stage=None):
        if stage in (None, "fit"):
            self.train_set = datasets.ImageFolder(os.path.join(self.root, "train"), self.train_transform())
        self.val_set = datasets.ImageFolder(os.path.join(self.root, "val"), self.val_transform())

    def train_dataloader(self):
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            pin_memory=True,
            persistent_workers=self.num_workers > 0,
            drop_last=True,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers, pin_memory=True,
                          persistent_workers=self.num_workers > 0)

    def test_dataloader(self):
        return self.val_dataloader()

    @property
    def num_classes(self):
        return len(self.train_set.classes if self.train_set is not None else self.val_set.classes)
