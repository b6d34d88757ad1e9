# Multi-label image tagging: a small CNN trained with BCEWithLogitsLoss.
import json
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

ROOT = Path("data/tags")
NUM_TAGS = 40
torch.manual_seed(0)


class TagDataset(Dataset):
    def __init__(self, index_file, transform):
        self.items = json.loads(Path(index_file).read_text())
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        img = Image.open(ROOT / item["path"]).convert("RGB")
        target = torch.zeros(NUM_TAGS)
        target[item["tags"]] = 1.0
        return self.transform(img), target


def conv_block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]


def build_model(widths=(32, 64, 128, 256)):
    layers = []
    cin = 3
    for w in widths:
        layers += conv_block(cin, w)
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 256), nn.ReLU(inplace=True)]
    layers += [nn.Linear(256, NUM_TAGS), nn.Sigmoid()]
    return nn.Sequential(*layers)


tf = transforms.Compose([transforms.Resize((128, 128)), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
eval_tf = transforms.Compose([transforms.Resize((128, 128)), transforms.ToTensor()])
train_loader = DataLoader(TagDataset(ROOT / "train.json", tf), batch_size=64, shuffle=True, num_workers=6)
val_loader = DataLoader(TagDataset(ROOT / "val.json", eval_tf), batch_size=128, num_workers=6)

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = build_model().to(device)
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(25):
    model.train()
    for images, targets in train_loader:
        images, targets = images.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()

    model.eval()
    tp = fp = fn = 0
    with torch.no_grad():
        for images, targets in val_loader:
            images, targets = images.to(device), targets.to(device)
            preds = (model(images) > 0.5).float()
            tp += (preds * targets).sum().item()
            fp += (preds * (1 - targets)).sum().item()
            fn += ((1 - preds) * targets).sum().item()
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    print(f"epoch {epoch} micro-F1 {f1:.4f}")

torch.save(model.state_dict(), "tagger.pt")
