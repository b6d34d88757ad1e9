# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""1-D GAN: discriminator and generator, one optimizer each, each zeroed before its own backward."""
import torch
import torch.nn as nn


def real_samples(n, gen):
    return torch.randn(n, 1, generator=gen) * 0.5 + 2.0


class G(nn.Module):
    def __init__(self, z=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, z):
        return self.net(z)


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    netG, netD = G(), D()
    optG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    bs = 32
    ones, zeros = torch.ones(bs, 1), torch.zeros(bs, 1)
    for it in range(30):
        real = real_samples(bs, gen)
        fake = netG(torch.randn(bs, 4))
        optD.zero_grad()
        lossD = bce(netD(real), ones) + bce(netD(fake.detach()), zeros)
        lossD.backward()
        optD.step()
        optG.zero_grad()
        lossG = bce(netD(fake), ones)
        lossG.backward()
        optG.step()
        if it % 10 == 0:
            print(f"it {it} D {lossD.item():.4f} G {lossG.item():.4f} fake mean {fake.mean().item():.3f}")
