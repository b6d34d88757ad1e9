import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets, transforms

random.seed(0)
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"


class PairDataset(Dataset):
    """Pairs of Omniglot characters: same class (label 1) or different (label 0), half and half."""

    def __init__(self, base):
        self.base = base
        self.by_class = {}
        for idx, (_, y) in enumerate(base._flat_character_images):
            self.by_class.setdefault(y, []).append(idx)
        self.classes = list(self.by_class)

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        img1, y1 = self.base[i]
        if random.random() < 0.5:
            j = random.choice(self.by_class[y1])
        else:
            j = random.choice(self.by_class[random.choice([c for c in self.classes if c != y1])])
        img2, y2 = self.base[j]
        return img1, img2, torch.tensor(float(y1 == y2))


class Embedder(nn.Module):
    def __init__(self, dim=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 10), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 7), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(128, dim),
        )

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


def contrastive(e1, e2, same, margin=0.5):
    d = (e1 - e2).pow(2).sum(-1).sqrt()
    return (same * d.pow(2) + (1 - same) * F.relu(margin - d).pow(2)).mean()


tf = transforms.Compose([transforms.Resize((105, 105)), transforms.ToTensor()])
pairs = PairDataset(datasets.Omniglot("data", background=True, download=True, transform=tf))
loader = DataLoader(pairs, batch_size=128, shuffle=True, num_workers=4)
model = Embedder().to(device)
opt = torch.optim.Adam(model.parameters(), lr=3e-4)

for epoch in range(30):
    model.train()
    total = 0.0
    for x1, x2, same in loader:
        x1, x2, same = x1.to(device), x2.to(device), same.to(device)
        e1, e2 = model(x1), model(x2)
        loss = contrastive(e1, e2, same)
        opt.zero_grad()
        loss.backward(retain_graph=True)
        opt.step()
        total += loss.item()
    print(f"epoch {epoch} loss {total / len(loader):.4f}")

torch.save(model.state_dict(), "siamese_omniglot.pt")
