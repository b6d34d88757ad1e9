"""BYOL self-supervised pretraining: online network + EMA target network, symmetric loss."""
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def mlp(dim_in, hidden=4096, out=256):
    return nn.Sequential(nn.Linear(dim_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


class TwoCrops:
    def __init__(self, tf):
        self.tf = tf

    def __call__(self, img):
        return self.tf(img), self.tf(img)


class BYOL(nn.Module):
    def __init__(self):
        super().__init__()
        backbone = models.resnet18(weights=None)
        backbone.fc = nn.Identity()
        self.online = nn.Sequential(backbone, mlp(512))
        self.predictor = mlp(256)
        self.target = copy.deepcopy(self.online)
        for p in self.target.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update_target(self, tau):
        for po, pt in zip(self.online.parameters(), self.target.parameters()):
            pt.mul_(tau).add_(po.detach(), alpha=1 - tau)

    def loss(self, v1, v2):
        p1, p2 = self.predictor(self.online(v1)), self.predictor(self.online(v2))
        with torch.no_grad():
            z1, z2 = self.target(v1), self.target(v2)
        def d(p, z):
            return 2 - 2 * F.cosine_similarity(p, z, dim=-1).mean()
        return d(p1, z2) + d(p2, z1)


def main(epochs=200, base_tau=0.996):
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    aug = transforms.Compose([
        transforms.RandomResizedCrop(96, scale=(0.2, 1.0)), transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2), transforms.ToTensor(),
    ])
    ds = datasets.STL10("data", split="unlabeled", download=True, transform=TwoCrops(aug))
    loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=8, pin_memory=True, drop_last=True)
    model = BYOL().to(device)
    params = list(model.online.parameters()) + list(model.predictor.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-6)
    total = epochs * len(loader)
    step = 0
    for epoch in range(epochs):
        model.train()
        for (v1, v2), _ in loader:
            v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
            loss = model.loss(v1, v2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tau = 1 - (1 - base_tau) * (math.cos(math.pi * step / total) + 1) / 2
            model.update_target(tau)
            step += 1
        print(f"epoch {epoch} loss {loss.item():.4f}")
        torch.save(model.online[0].state_dict(), "byol_resnet18_backbone.pt")


if __name__ == "__main__":
    main()
