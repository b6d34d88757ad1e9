"""pix2pix-style conditional GAN (U-Net generator, PatchGAN discriminator) with mixed precision."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from paired_images import PairedImageFolder
from pix2pix_nets import PatchDiscriminator, UNetGenerator


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="facades")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lambda-l1", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(PairedImageFolder(args.root, "train"), batch_size=1, shuffle=True, num_workers=4,
                        pin_memory=True, generator=g)
    netG, netD = UNetGenerator().to(device), PatchDiscriminator().to(device)
    opt_G = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gan_loss, l1_loss = nn.BCEWithLogitsLoss(), nn.L1Loss()

    for epoch in range(args.epochs):
        netG.train()
        netD.train()
        for real_a, real_b in loader:
            real_a, real_b = real_a.to(device, non_blocking=True), real_b.to(device, non_blocking=True)
            with torch.cuda.amp.autocast():
                fake_b = netG(real_a)
                pred_fake = netD(torch.cat([real_a, fake_b.detach()], 1))
                pred_real = netD(torch.cat([real_a, real_b], 1))
                loss_D = 0.5 * (gan_loss(pred_fake, torch.zeros_like(pred_fake)) +
                                gan_loss(pred_real, torch.ones_like(pred_real)))
            opt_G.zero_grad()
            loss_D.backward()
            opt_D.step()

            with torch.autocast(device_type="cuda", dtype=torch.float16):
                pred_fake = netD(torch.cat([real_a, fake_b], 1))
                loss_G = gan_loss(pred_fake, torch.ones_like(pred_fake)) + args.lambda_l1 * l1_loss(fake_b, real_b)
            opt_G.zero_grad()
            loss_G.backward()
            opt_G.step()
        print(f"epoch {epoch}: D {loss_D.item():.3f} G {loss_G.item():.3f}")
        torch.save({"G": netG.state_dict(), "D": netD.state_dict()}, f"pix2pix_{epoch:03d}.pt")


if __name__ == "__main__":
    main()
