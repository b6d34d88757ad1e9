"""Adversarial autoencoder: encoder/decoder, and a discriminator on the latent code, three optimizers."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

torch.manual_seed(10)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
Z = 8

enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, Z)).to(device)
dec = nn.Sequential(nn.Linear(Z, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 784)).to(device)
disc = nn.Sequential(nn.Linear(Z, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 1)).to(device)

opt_ae = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=6e-4)
opt_d = torch.optim.Adam(disc.parameters(), lr=8e-5)
opt_g = torch.optim.Adam(enc.parameters(), lr=8e-5)

loader = DataLoader(datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor()),
                    batch_size=100, shuffle=True, num_workers=2)

for epoch in range(100):
    for x, _ in loader:
        x = x.to(device)
        # 1) reconstruction
        opt_ae.zero_grad()
        recon = dec(enc(x))
        rec_loss = F.binary_cross_entropy_with_logits(recon, x.view(-1, 784))
        rec_loss.backward()
        opt_ae.step()

        # 2) discriminator: prior samples vs encoded codes
        z_real = torch.randn(x.size(0), Z, device=device) * 5.0
        z_fake = enc(x).detach()
        d_loss = F.binary_cross_entropy_with_logits(disc(z_real), torch.ones(x.size(0), 1, device=device)) + \
            F.binary_cross_entropy_with_logits(disc(z_fake), torch.zeros(x.size(0), 1, device=device))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        # 3) generator (the encoder) fools the discriminator
        g_loss = F.binary_cross_entropy_with_logits(disc(enc(x)), torch.ones(x.size(0), 1, device=device))
        g_loss.backward()
        opt_g.step()
    print(f"epoch {epoch} rec {rec_loss.item():.4f} d {d_loss.item():.4f} g {g_loss.item():.4f}")

torch.save({"enc": enc.state_dict(), "dec": dec.state_dict()}, "aae_mnist.pt")
