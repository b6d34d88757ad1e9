"""DDPM training on 32x32 images with an EMA copy of the denoiser."""
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from unet_small import UNetSmall  # local


def cosine_betas(T, s=0.008):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    alphas_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_bar = alphas_bar / alphas_bar[0]
    return (1 - alphas_bar[1:] / alphas_bar[:-1]).clamp(max=0.999).float()


class Diffusion(nn.Module):
    def __init__(self, model, T=1000):
        super().__init__()
        self.model = model
        self.T = T
        betas = cosine_betas(T)
        alphas_bar = torch.cumprod(1 - betas, dim=0)
        self.register_buffer("betas", betas)
        self.register_buffer("sqrt_ab", alphas_bar.sqrt())
        self.register_buffer("sqrt_1mab", (1 - alphas_bar).sqrt())

    def loss(self, x0):
        t = torch.randint(0, self.T, (x0.size(0),), device=x0.device)
        noise = torch.randn_like(x0)
        xt = self.sqrt_ab[t].view(-1, 1, 1, 1) * x0 + self.sqrt_1mab[t].view(-1, 1, 1, 1) * noise
        return F.mse_loss(self.model(xt, t), noise)


@torch.no_grad()
def ema_update(ema, model, decay):
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def main(epochs=200, lr=2e-4, ema_decay=0.9999):
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize([0.5] * 3, [0.5] * 3)])
    loader = DataLoader(datasets.CIFAR10("data", train=True, download=True, transform=tf), batch_size=128,
                        shuffle=True, num_workers=4, pin_memory=True, drop_last=True)
    diffusion = Diffusion(UNetSmall(ch=128)).to(device)
    ema = copy.deepcopy(diffusion).eval().requires_grad_(False)
    opt = torch.optim.Adam(diffusion.parameters(), lr=lr)
    warmup = 5000
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))

    step = 0
    for epoch in range(epochs):
        diffusion.train()
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            loss = diffusion.loss(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
            opt.step()
            sched.step()
            ema_update(ema, diffusion, ema_decay)
            step += 1
            if step % 1000 == 0:
                print(f"step {step} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e}")
        if epoch % 10 == 9:
            torch.save({"model": diffusion.state_dict(), "ema": ema.state_dict(), "step": step},
                       f"ddpm_epoch{epoch + 1}.pt")


if __name__ == "__main__":
    main()
