"""SimCLR-style contrastive pre-training on unlabeled images (two random views per image)."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


class TwoViews:
    def __init__(self, tf):
        self.tf = tf

    def __call__(self, img):
        return self.tf(img), self.tf(img)


def l2_normalize(z, eps=1e-8):
    return z / torch.sqrt((z * z).sum(dim=1, keepdim=True) + eps)


def nt_xent(z1, z2, temperature=0.2):
    z = l2_normalize(torch.cat([z1, z2]))  # (2B, D)
    sim = z @ z.t() / temperature
    n = z1.size(0)
    sim.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="unlabeled")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    aug = transforms.Compose([
        transforms.RandomResizedCrop(96), transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(0.2), transforms.ToTensor(),
    ])
    ds = datasets.ImageFolder(args.data, TwoViews(aug))
    loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=8, pin_memory=True, drop_last=True)

    encoder = models.resnet18(num_classes=128)
    encoder.fc = nn.Sequential(nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Linear(512, 128))
    encoder = encoder.to(device)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3, weight_decay=1e-6)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    for epoch in range(args.epochs):
        encoder.train()
        total_loss = 0.0
        for (v1, v2), _ in loader:
            v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
            loss = nt_xent(encoder(v1), encoder(v2))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss
        scheduler.step()
        print(f"epoch {epoch}: loss {total_loss.item() / len(loader):.4f}")
        torch.save(encoder.state_dict(), "simclr_r18.pt")


if __name__ == "__main__":
    main()
