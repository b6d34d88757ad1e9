"""PointNet classification on ModelNet40 (points pre-sampled to .npy)."""
import glob
import os

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

torch.manual_seed(0)
np.random.seed(0)


class ModelNet(Dataset):
    def __init__(self, root, split, n_points=1024, augment=False):
        self.files = sorted(glob.glob(os.path.join(root, "*", split, "*.npy")))
        classes = sorted({f.split(os.sep)[-3] for f in self.files})
        self.label = {c: i for i, c in enumerate(classes)}
        self.n_points, self.augment = n_points, augment

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        pts = np.load(self.files[i])[: self.n_points].astype(np.float32)
        pts = pts - pts.mean(0)
        pts /= np.linalg.norm(pts, axis=1).max()
        if self.augment:
            theta = np.random.uniform(0, 2 * np.pi)
            rot = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0], [-np.sin(theta), 0, np.cos(theta)]], dtype=np.float32)
            pts = pts @ rot.T + np.random.normal(0, 0.01, pts.shape).astype(np.float32)
        return torch.from_numpy(pts).t(), self.label[self.files[i].split(os.sep)[-3]]


class PointNet(nn.Module):
    def __init__(self, k=40):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv1d(3, 64, 1), nn.BatchNorm1d(64), nn.ReLU(),
            nn.Conv1d(64, 128, 1), nn.BatchNorm1d(128), nn.ReLU(),
            nn.Conv1d(128, 1024, 1), nn.BatchNorm1d(1024), nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(256, k), nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.head(self.mlp(x).max(dim=2).values)


device = "cuda" if torch.cuda.is_available() else "cpu"
train_dl = DataLoader(ModelNet("data/modelnet40", "train", augment=True), batch_size=32, shuffle=True,
                      num_workers=4, drop_last=True)
test_dl = DataLoader(ModelNet("data/modelnet40", "test"), batch_size=64, num_workers=4)
model = PointNet().to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=20, gamma=0.5)

for epoch in range(200):
    model.train()
    for pts, label in train_dl:
        pts, label = pts.to(device), label.to(device)
        optimizer.zero_grad()
        loss = criterion(model(pts), label)
        loss.backward()
        optimizer.step()
    scheduler.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for pts, label in test_dl:
            correct += (model(pts.to(device)).argmax(1).cpu() == label).sum().item()
    print(f"epoch {epoch} test acc {correct / len(test_dl.dataset):.4f}")
