"""Convolutional VAE on Fashion-MNIST; Bernoulli decoder (sigmoid + BCE reconstruction term)."""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import save_image


class ConvVAE(nn.Module):
    def __init__(self, latent=16):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(inplace=True), nn.Flatten(),
        )
        self.mu = nn.Linear(64 * 7 * 7, latent)
        self.logvar = nn.Linear(64 * 7 * 7, latent)
        self.dec_in = nn.Linear(latent, 64 * 7 * 7)
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),
        )

    def decode(self, z):
        h = self.dec_in(z).view(-1, 64, 7, 7)  # (B, 64, 7, 7)
        return torch.sigmoid(self.dec(h))

    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def vae_loss(recon, x, mu, logvar):
    rec = F.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return rec + kld


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.ToTensor()
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(datasets.FashionMNIST("data", train=True, download=True, transform=tf), batch_size=128,
                              shuffle=True, num_workers=2, pin_memory=device.type == "cuda", generator=g)
    test_loader = DataLoader(datasets.FashionMNIST("data", train=False, transform=tf), batch_size=512, num_workers=2,
                             pin_memory=device.type == "cuda")
    model = ConvVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    os.makedirs("samples", exist_ok=True)
    fixed_z = torch.randn(64, 16, device=device)

    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = torch.zeros((), device=device)
        for x, _ in train_loader:
            x = x.to(device, non_blocking=True)
            recon, mu, logvar = model(x)
            loss = vae_loss(recon, x, mu, logvar)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            train_loss += loss.detach()
        model.eval()
        test_loss = torch.zeros((), device=device)
        with torch.no_grad():
            for x, _ in test_loader:
                x = x.to(device)
                recon, mu, logvar = model(x)
                test_loss += vae_loss(recon, x, mu, logvar)
            save_image(model.decode(fixed_z).cpu(), f"samples/epoch_{epoch:03d}.png", nrow=8)
        n_train, n_test = len(train_loader.dataset), len(test_loader.dataset)
        print(f"epoch {epoch}: train {train_loss.item() / n_train:.2f} test {test_loss.item() / n_test:.2f}")
    torch.save(model.state_dict(), "conv_vae.pt")


if __name__ == "__main__":
    main()
