"""Multi-modal (image + tabular) regression of house prices."""
import argparse

import pandas as pd
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import models, transforms

TAB_COLS = ["bedrooms", "bathrooms", "sqft", "lat", "lon", "year_built"]


class Houses(Dataset):
    def __init__(self, csv, img_root, tf):
        self.df = pd.read_csv(csv)
        self.img_root, self.tf = img_root, tf
        stats = self.df[TAB_COLS].describe()
        self.mean, self.std = stats.loc["mean"].values, stats.loc["std"].values

    def __len__(self):
        return len(self.df)

    def __getitem__(self, i):
        row = self.df.iloc[i]
        tab = (row[TAB_COLS].values.astype("float32") - self.mean) / self.std
        img = self.tf(Image.open(f"{self.img_root}/{row['photo']}").convert("RGB"))
        return {"image": img, "tab": torch.tensor(tab, dtype=torch.float32),
                "price": torch.tensor(row["log_price"], dtype=torch.float32)}


class Fusion(nn.Module):
    def __init__(self):
        super().__init__()
        self.cnn = models.resnet18(weights=models.ResNet18_Weights.DEFAULT)
        self.cnn.fc = nn.Identity()
        self.tab = nn.Sequential(nn.Linear(len(TAB_COLS), 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(512 + 64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 1))

    def forward(self, image, tab):
        return self.head(torch.cat([self.cnn(image), self.tab(tab)], dim=1)).squeeze(1)


def to_device(batch, device):
    for key in batch:
        batch[key].to(device, non_blocking=True)
    return batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default="data/houses.csv")
    ap.add_argument("--photos", default="data/photos")
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
    loader = DataLoader(Houses(args.csv, args.photos, tf), batch_size=32, shuffle=True, num_workers=6,
                        pin_memory=True)
    model = Fusion().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for batch in loader:
            batch = to_device(batch, device)
            pred = model(batch["image"], batch["tab"])
            loss = nn.functional.huber_loss(pred, batch["price"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {epoch} huber {total / len(loader):.4f}")
    torch.save(model.state_dict(), "house_fusion.pt")


if __name__ == "__main__":
    main()
