import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import save_image


class VAE(nn.Module):
    def __init__(self, z_dim=20, hidden=400):
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)
        self.dec1 = nn.Linear(z_dim, hidden)
        self.dec2 = nn.Linear(hidden, 784)

    def encode(self, x):
        h = F.relu(self.enc(x))
        return self.mu(h), self.logvar(h)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return self.dec2(F.relu(self.dec1(z)))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def vae_loss(recon_logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(recon_logits, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kwargs = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    train_loader = DataLoader(datasets.MNIST("../data", train=True, download=True, transform=transforms.ToTensor()),
                              batch_size=args.batch_size, shuffle=True, **kwargs)
    test_loader = DataLoader(datasets.MNIST("../data", train=False, transform=transforms.ToTensor()),
                             batch_size=args.batch_size, shuffle=False, **kwargs)
    model = VAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0.0
        for data, _ in train_loader:
            data = data.to(device)
            optimizer.zero_grad()
            recon, mu, logvar = model(data)
            loss = vae_loss(recon, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()

        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                data = data.to(device)
                recon, mu, logvar = model(data)
                test_loss += vae_loss(recon, data, mu, logvar).item()
                if i == 0:
                    n = min(data.size(0), 8)
                    grid = torch.cat([data[:n], torch.sigmoid(recon).view(-1, 1, 28, 28)[:n]])
                    save_image(grid.cpu(), f"recon_{epoch}.png", nrow=n)
            sample = torch.sigmoid(model.decode(torch.randn(64, 20, device=device))).cpu()
            save_image(sample.view(64, 1, 28, 28), f"sample_{epoch}.png")
        print(f"epoch {epoch} train {train_loss / len(train_loader.dataset):.4f} "
              f"test {test_loss / len(test_loader.dataset):.4f}")


if __name__ == "__main__":
    main()
