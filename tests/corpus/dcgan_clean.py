"""DCGAN on CelebA crops; weights initialised as in Radford et al. (2015)."""
import argparse
import os
import random

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms, utils

parser = argparse.ArgumentParser()
parser.add_argument("--dataroot", default="celeba")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--nz", type=int, default=100)
parser.add_argument("--seed", type=int, default=999)
opt = parser.parse_args()

random.seed(opt.seed)
torch.manual_seed(opt.seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
tf = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
                         transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
g = torch.Generator().manual_seed(opt.seed)
loader = DataLoader(datasets.ImageFolder(opt.dataroot, tf), batch_size=128, shuffle=True, num_workers=4,
                    pin_memory=True, drop_last=True, generator=g)


def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        m.weight.data.normal_(0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


netG = nn.Sequential(
    nn.ConvTranspose2d(opt.nz, 256, 4, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
    nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
    nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
    nn.ConvTranspose2d(64, 3, 4, 4, 0, bias=False), nn.Tanh(),
).to(device)
netD = nn.Sequential(
    nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(256, 1, 8, 1, 0, bias=False), nn.Flatten(0),
).to(device)
netG.apply(weights_init)
netD.apply(weights_init)
criterion = nn.BCEWithLogitsLoss()
optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_noise = torch.randn(64, opt.nz, 1, 1, device=device)
os.makedirs("out", exist_ok=True)

for epoch in range(opt.epochs):
    for i, (real, _) in enumerate(loader):
        real = real.to(device, non_blocking=True)
        b = real.size(0)
        ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
        netD.zero_grad()
        fake = netG(torch.randn(b, opt.nz, 1, 1, device=device))
        errD = criterion(netD(real), ones) + criterion(netD(fake.detach()), zeros)
        errD.backward()
        optD.step()

        netG.zero_grad()
        errG = criterion(netD(fake), ones)
        errG.backward()
        optG.step()
        if i % 100 == 0:
            print(f"[{epoch}/{opt.epochs}][{i}/{len(loader)}] D {errD.item():.3f} G {errG.item():.3f}")
    with torch.no_grad():
        utils.save_image(netG(fixed_noise).cpu(), f"out/fake_{epoch:03d}.png", normalize=True)
    torch.save(netG.state_dict(), f"out/netG_{epoch}.pt")
