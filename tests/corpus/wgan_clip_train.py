"""WGAN with weight clipping on 28x28 digits (Arjovsky et al. recipe)."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

parser = argparse.ArgumentParser()
parser.add_argument("--n-critic", type=int, default=5)
parser.add_argument("--clip", type=float, default=0.01)
parser.add_argument("--lr", type=float, default=5e-5)
parser.add_argument("--latent", type=int, default=64)
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

torch.manual_seed(args.seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
dataset = datasets.MNIST("data", train=True, download=True,
                         transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]))
g = torch.Generator().manual_seed(args.seed)
loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=4, pin_memory=True, drop_last=True, generator=g)

generator = nn.Sequential(
    nn.Linear(args.latent, 256), nn.LeakyReLU(0.2, inplace=True),
    nn.Linear(256, 512), nn.LeakyReLU(0.2, inplace=True),
    nn.Linear(512, 784), nn.Tanh(),
).to(device)
critic = nn.Sequential(
    nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True),
    nn.Linear(512, 256), nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1),
).to(device)
opt_g = torch.optim.RMSprop(generator.parameters(), lr=args.lr)
opt_c = torch.optim.RMSprop(critic.parameters(), lr=args.lr)

opt_c.zero_grad()
for epoch in range(args.epochs):
    for i, (real, _) in enumerate(loader):
        real = real.to(device, non_blocking=True)
        z = torch.randn(real.size(0), args.latent, device=device)
        fake = generator(z).view(-1, 1, 28, 28).detach()
        loss_c = critic(fake).mean() - critic(real).mean()
        loss_c.backward()
        opt_c.step()
        for p in critic.parameters():
            p.data.clamp_(-args.clip, args.clip)

        if i % args.n_critic == 0:
            opt_g.zero_grad(set_to_none=True)
            z = torch.randn(real.size(0), args.latent, device=device)
            loss_g = -critic(generator(z).view(-1, 1, 28, 28)).mean()
            loss_g.backward()
            opt_g.step()
        if i % 200 == 0:
            print(f"epoch {epoch} it {i}: critic {loss_c.item():.4f}")
    torch.save({"generator": generator.state_dict(), "critic": critic.state_dict()}, f"wgan_{epoch}.pt")
