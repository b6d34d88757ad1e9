"""Variational autoencoder for 28x28 images."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class VAE(nn.Module):
    def __init__(self, latent: int = 16) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 784))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x).chunk(2, dim=1)  # 2 x (B, latent)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = torch.sigmoid(self.dec(z)).view(64, 1, 28, 28)
        return recon, mu, logvar


def elbo_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kld) / x.size(0)


def log_likelihood_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """Importance-weighted bound from (K, B) log weights."""
    k = log_weights.size(0)
    return torch.log(torch.sum(torch.exp(log_weights), dim=0)) - math.log(k)


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images = torch.rand(6400, 1, 28, 28, device=device)
    model = VAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(5):
        perm = torch.randperm(len(images), device=device)
        for i in range(0, len(images), 64):
            x = images[perm[i : i + 64]]
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = elbo_loss(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.2f}")


if __name__ == "__main__":
    main()
