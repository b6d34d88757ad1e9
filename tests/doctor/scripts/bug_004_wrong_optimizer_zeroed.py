# doctor-expect: PT-RUN004
# doctor-args:
# doctor-options:
# doctor-bug: the loop zeroes enc_opt twice (copy-paste) and never dec_opt: the decoder's gradients carry over from step to step
"""Autoencoder with separate encoder / decoder optimizers."""
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(24, 12), nn.ReLU(), nn.Linear(12, 4))

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 12), nn.ReLU(), nn.Linear(12, 24))

    def forward(self, z):
        return self.net(z)


def batches(data, bs, gen):
    perm = torch.randperm(len(data), generator=gen)
    for i in range(0, len(data) - bs + 1, bs):
        yield data[perm[i:i + bs]]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(320, 4) @ torch.randn(4, 24)
    enc, dec = Encoder(), Decoder()
    enc_opt = torch.optim.Adam(enc.parameters(), lr=2e-3)
    dec_opt = torch.optim.Adam(dec.parameters(), lr=2e-3)
    for epoch in range(3):
        for x in batches(data, 32, gen):
            enc_opt.zero_grad()
            enc_opt.zero_grad()
            recon = dec(enc(x))
            loss = nn.functional.mse_loss(recon, x)
            loss.backward()
            enc_opt.step()
            dec_opt.step()
        print(f"epoch {epoch} recon {loss.item():.4f}")


if __name__ == "__main__":
    main()
