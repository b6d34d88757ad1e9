"""Keyword spotting on Speech Commands (MFCC features precomputed to .npy)."""
import glob
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

torch.manual_seed(7)
np.random.seed(7)

LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


class MfccDataset(Dataset):
    def __init__(self, root, split):
        self.files = sorted(glob.glob(os.path.join(root, split, "*", "*.npy")))
        self.labels = [LABELS.index(os.path.basename(os.path.dirname(f))) for f in self.files]

    def __len__(self):
        return len(self.files)

    def __getitem__(self, idx):
        feats = np.load(self.files[idx]).astype(np.float32)
        return torch.from_numpy(feats).unsqueeze(0), self.labels[idx]


class KwsCnn(nn.Module):
    def __init__(self, n_classes=len(LABELS)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(64, n_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = x.mean(dim=(2, 3))
        return self.fc(self.drop(x))


def run_epoch(model, loader, optimizer=None, train=True, device="cpu"):
    total_loss, correct, seen = 0.0, 0, 0
    ctx = torch.enable_grad() if train else torch.no_grad()
    with ctx:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            if train:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * y.size(0)
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.size(0)
    return total_loss / seen, correct / seen


def main(root="data/speech_commands_mfcc", epochs=20):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_loader = DataLoader(MfccDataset(root, "train"), batch_size=128, shuffle=True, num_workers=4)
    val_loader = DataLoader(MfccDataset(root, "valid"), batch_size=256, num_workers=4)

    model = KwsCnn().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)

    for epoch in range(epochs):
        model.train()
        tr_loss, tr_acc = run_epoch(model, train_loader, optimizer, train=True, device=device)
        va_loss, va_acc = run_epoch(model, val_loader, train=False, device=device)
        sched.step(va_loss)
        print(f"{epoch:3d} train {tr_loss:.3f}/{tr_acc:.3f} valid {va_loss:.3f}/{va_acc:.3f}")

    torch.save(model.state_dict(), "kws_cnn.pt")


if __name__ == "__main__":
    main()
