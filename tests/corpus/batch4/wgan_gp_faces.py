"""WGAN-GP on 64x64 face crops."""
import os

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms, utils

torch.manual_seed(999)
device = "cuda" if torch.cuda.is_available() else "cpu"
Z = 128
N_CRITIC = 5
LAMBDA_GP = 10.0
os.makedirs("samples", exist_ok=True)

tf = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
                         transforms.Normalize([0.5] * 3, [0.5] * 3)])
loader = DataLoader(datasets.ImageFolder("data/faces", tf), batch_size=64, shuffle=True, num_workers=4,
                    drop_last=True, pin_memory=True)


def up(cin, cout):
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


def down(cin, cout):
    return [nn.Conv2d(cin, cout, 4, 2, 1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2, True)]


G = nn.Sequential(nn.ConvTranspose2d(Z, 512, 4, 1, 0, bias=False), nn.BatchNorm2d(512), nn.ReLU(True),
                  *up(512, 256), *up(256, 128), *up(128, 64),
                  nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh()).to(device)
D = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1), nn.LeakyReLU(0.2, True),
                  *down(64, 128), *down(128, 256), *down(256, 512),
                  nn.Conv2d(512, 1, 4, 1, 0)).to(device)

opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.9))
fixed_z = torch.randn(64, Z, 1, 1, device=device)


def gradient_penalty(real, fake):
    eps = torch.rand(real.size(0), 1, 1, 1, device=device)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = D(mix)
    grad = torch.autograd.grad(score.sum(), mix, create_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


for epoch in range(30):
    for i, (real, _) in enumerate(loader):
        real = real.to(device)
        z = torch.randn(real.size(0), Z, 1, 1, device=device)
        fake = G(z).detach()
        d_loss = D(fake).mean() - D(real).mean() + LAMBDA_GP * gradient_penalty(real, fake)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        if i % N_CRITIC == 0:
            z = torch.randn(real.size(0), Z, 1, 1, device=device)
            g_loss = -D(G(z)).mean()
            opt_d.zero_grad()
            g_loss.backward()
            opt_g.step()

        if i % 200 == 0:
            print(f"[{epoch}/{30}][{i}/{len(loader)}] D {d_loss.item():.3f} G {g_loss.item():.3f}")
    with torch.no_grad():
        G.eval()
        utils.save_image(G(fixed_z), f"samples/epoch_{epoch:03d}.png", normalize=True)
        G.train()

torch.save({"G": G.state_dict(), "D": D.state_dict()}, "wgan_gp.pt")
