"""Multi-label chest X-ray classifier: DenseNet-121, BCEWithLogitsLoss, sigmoid only for metrics."""
import argparse

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from PIL import Image
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, Dataset
from torchvision import models, transforms

FINDINGS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
            "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"]


class ChestXray(Dataset):
    def __init__(self, csv, img_dir, transform):
        self.df = pd.read_csv(csv)
        self.img_dir, self.transform = img_dir, transform

    def __len__(self):
        return len(self.df)

    def __getitem__(self, i):
        row = self.df.iloc[i]
        img = Image.open(f"{self.img_dir}/{row['Image Index']}").convert("RGB")
        labels = torch.tensor([float(f in row["Finding Labels"].split("|")) for f in FINDINGS])
        return self.transform(img), labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--img-dir", default="data/nih/images")
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_tf = transforms.Compose([transforms.RandomResizedCrop(224, scale=(0.8, 1)), transforms.ToTensor(), norm])
    val_tf = transforms.Compose([transforms.Resize(224), transforms.ToTensor(), norm])
    train_dl = DataLoader(ChestXray("data/nih/train.csv", args.img_dir, train_tf), batch_size=32, shuffle=True,
                          num_workers=8, pin_memory=True)
    val_dl = DataLoader(ChestXray("data/nih/val.csv", args.img_dir, val_tf), batch_size=64, num_workers=8,
                        pin_memory=True)

    model = models.densenet121(weights=models.DenseNet121_Weights.DEFAULT)
    model.classifier = nn.Linear(model.classifier.in_features, len(FINDINGS))
    model = model.to(device)
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.1, patience=1)

    for epoch in range(args.epochs):
        model.train()
        for x, y in train_dl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            loss = criterion(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        model.eval()
        probs, targets = [], []
        with torch.no_grad():
            for x, y in val_dl:
                probs.append(torch.sigmoid(model(x.to(device))).cpu())
                targets.append(y)
        probs, targets = torch.cat(probs).numpy(), torch.cat(targets).numpy()
        aucs = [roc_auc_score(targets[:, i], probs[:, i]) for i in range(len(FINDINGS)) if targets[:, i].any()]
        mean_auc = float(np.mean(aucs))
        scheduler.step(mean_auc)
        print(f"epoch {epoch} loss {loss.item():.4f} mean AUROC {mean_auc:.4f}")
        torch.save(model.state_dict(), f"densenet_cxr_{epoch}.pt")


if __name__ == "__main__":
    main()
