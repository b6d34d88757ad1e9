"""Semi-supervised GAN with feature matching (Salimans et al.): D is also a K+1-way classifier."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

torch.manual_seed(1)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
K, Z = 10, 100


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(784, 1000), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(1000, 500), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(500, 250), nn.LeakyReLU(0.2),
        )
        self.cls = nn.Linear(250, K)

    def forward(self, x):
        f = self.features(x.flatten(1))
        return self.cls(f), f


G = nn.Sequential(nn.Linear(Z, 500), nn.Softplus(), nn.BatchNorm1d(500), nn.Linear(500, 500), nn.Softplus(),
                  nn.BatchNorm1d(500), nn.Linear(500, 784), nn.Sigmoid()).to(device)
netD = D().to(device)
opt_d = torch.optim.Adam(netD.parameters(), lr=3e-4, betas=(0.5, 0.999))
opt_g = torch.optim.Adam(G.parameters(), lr=3e-4, betas=(0.5, 0.999))

tf = transforms.ToTensor()
unlabeled = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=100,
                       shuffle=True, drop_last=True, num_workers=2)
test = DataLoader(datasets.MNIST("data", train=False, transform=tf), batch_size=500)


def log_sum_exp(logits):
    return torch.logsumexp(logits, dim=1)


for epoch in range(50):
    netD.train()
    G.train()
    for (x, y) in unlabeled:
        x, y = x.to(device), y.to(device)
        z = torch.randn(x.size(0), Z, device=device)
        fake = G(z)

        logits_real, feat_real = netD(x)
        logits_fake, _ = netD(fake.detach())
        lse_real, lse_fake = log_sum_exp(logits_real), log_sum_exp(logits_fake)
        sup = F.cross_entropy(logits_real[:10], y[:10])
        unsup = -lse_real.mean() + F.softplus(lse_real).mean() + F.softplus(lse_fake).mean()
        opt_d.zero_grad()
        (sup + unsup).backward()
        opt_d.step()

        _, feat_fake = netD(fake)
        _, feat_real = netD(x)
        g_loss = (feat_real.detach().mean(0) - feat_fake.mean(0)).pow(2).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

    netD.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test:
            logits, _ = netD(x.to(device))
            correct += (logits.argmax(1).cpu() == y).sum().item()
    print(f"epoch {epoch} test acc {correct / len(test.dataset):.4f} g_loss {g_loss.item():.4f}")
