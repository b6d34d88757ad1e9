"""1-D convolutional VAE for raw-audio snippets (model code only)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint


class ResBlock1d(nn.Module):
    def __init__(self, c, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(c, c, 1)
        self.norms = {"pre": nn.GroupNorm(1, c), "post": nn.GroupNorm(1, c)}

    def forward(self, x):
        h = self.conv1(F.silu(self.norms["pre"](x)))
        h = self.conv2(F.silu(self.norms["post"](h)))
        return x + h


class AudioVAE(nn.Module):
    def __init__(self, channels=64, latent=16, n_blocks=4, use_checkpoint=True):
        super().__init__()
        self.inp = nn.Conv1d(1, channels, 7, padding=3)
        self.down = nn.Sequential(*[nn.Conv1d(channels, channels, 4, 2, 1) for _ in range(3)])
        self.blocks = nn.ModuleList(ResBlock1d(channels, 2 ** i) for i in range(n_blocks))
        self.to_stats = nn.Conv1d(channels, 2 * latent, 1)
        self.up = nn.Sequential(*[nn.ConvTranspose1d(channels, channels, 4, 2, 1) for _ in range(3)])
        self.out = nn.Conv1d(channels, 1, 7, padding=3)
        self.latent = latent
        self.channels = channels
        self.use_checkpoint = use_checkpoint

    def encode(self, wav):
        h = self.down(self.inp(wav))  # (B, C, T/8)
        for block in self.blocks:
            h = torch.utils.checkpoint.checkpoint(block, h) if self.use_checkpoint else block(h)
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, h):
        return torch.tanh(self.out(self.up(h)))

    def forward(self, wav):
        mu, logvar = self.encode(wav)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        z = z.view(16, self.latent, -1)  # (B, latent, T/8)
        if not hasattr(self, "from_latent"):
            self.from_latent = nn.Conv1d(self.latent, self.channels, 1).to(z.device)
        return self.decode(self.from_latent(z)), mu, logvar


def vae_loss(recon, wav, mu, logvar, beta=0.5):
    rec = F.l1_loss(recon, wav)
    kld = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
    return rec + beta * kld
