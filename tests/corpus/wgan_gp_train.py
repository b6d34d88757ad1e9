"""WGAN-GP (Gulrajani et al. 2017) on 64x64 images: five critic steps per generator step."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from dcgan_nets import Critic, Generator


def gradient_penalty(critic, real, fake):
    eps = torch.rand(real.size(0), 1, 1, 1, device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(mixed)
    grads, = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="lsun_bedrooms")
    parser.add_argument("--iters", type=int, default=100000)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--gp", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
                             transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(datasets.ImageFolder(args.root, tf), batch_size=64, shuffle=True, num_workers=8,
                        pin_memory=True, drop_last=True, generator=g, persistent_workers=True)
    netG, netC = Generator().to(device), Critic().to(device)
    optG = torch.optim.Adam(netG.parameters(), lr=1e-4, betas=(0.0, 0.9))
    optC = torch.optim.Adam(netC.parameters(), lr=1e-4, betas=(0.0, 0.9))
    data_iter = iter(loader)

    for it in range(args.iters):
        for _ in range(args.n_critic):
            try:
                real, _ = next(data_iter)
            except StopIteration:
                data_iter = iter(loader)
                real, _ = next(data_iter)
            real = real.to(device, non_blocking=True)
            with torch.no_grad():
                fake = netG(torch.randn(real.size(0), 128, device=device))
            loss_c = netC(fake).mean() - netC(real).mean() + args.gp * gradient_penalty(netC, real, fake)
            optC.zero_grad(set_to_none=True)
            loss_c.backward()
            optC.step()
        netC.requires_grad_(False)
        loss_g = -netC(netG(torch.randn(64, 128, device=device))).mean()
        optG.zero_grad(set_to_none=True)
        loss_g.backward()
        optG.step()
        netC.requires_grad_(True)
        if it % 500 == 0:
            print(f"iter {it}: critic {loss_c.item():.4f} generator {loss_g.item():.4f}")
        if it % 5000 == 0:
            torch.save({"G": netG.state_dict(), "C": netC.state_dict(), "optG": optG.state_dict(),
                        "optC": optC.state_dict(), "iter": it}, "wgan_gp_last.pt")


if __name__ == "__main__":
    main()
