# doctor-expect: clean
# doctor-args:
# doctor-options: --steps 24
# doctor-bug:
"""A tiny DCGAN-style GAN: batch-norm in both nets, D step on fake.detach(), G step through D, two optimizers."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
torch.set_num_threads(1)
data = torch.randn(512, 8) * 0.5 + 2.0
loader = DataLoader(TensorDataset(data), batch_size=32, shuffle=True, drop_last=True)
G = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 8))
D = nn.Sequential(nn.Linear(8, 32), nn.LeakyReLU(0.2), nn.Dropout(0.2), nn.Linear(32, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
for epoch in range(3):
    for (real,) in loader:
        z = torch.randn(real.size(0), 4)
        fake = G(z)
        D.zero_grad()
        loss_d = bce(D(real), torch.ones(real.size(0), 1)) + bce(D(fake.detach()), torch.zeros(real.size(0), 1))
        loss_d.backward()
        opt_d.step()
        G.zero_grad()
        loss_g = bce(D(fake), torch.ones(real.size(0), 1))
        loss_g.backward()
        opt_g.step()
    print(f"epoch {epoch} d {loss_d.item():.3f} g {loss_g.item():.3f}")
