import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Generator(nn.Module):
    def __init__(self, z=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2),
                                 nn.Linear(512, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256),
                                 nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def forward(self, x):
        return self.net(x)


class GAN(L.LightningModule):
    def __init__(self, z=64, lr=2e-4):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.G, self.D = Generator(z), Critic()

    def training_step(self, batch, batch_idx):
        real, _ = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(real.size(0), self.hparams.z, device=self.device)

        fake = self.G(z)
        d_loss = F.binary_cross_entropy_with_logits(self.D(real), torch.ones(real.size(0), 1, device=self.device)) + \
            F.binary_cross_entropy_with_logits(self.D(fake.detach()), torch.zeros(real.size(0), 1, device=self.device))
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()

        g_loss = F.binary_cross_entropy_with_logits(self.D(fake), torch.ones(real.size(0), 1, device=self.device))
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.log_dict({"d_loss": d_loss, "g_loss": g_loss}, prog_bar=True)

    def on_train_epoch_end(self):
        with torch.no_grad():
            z = torch.randn(16, self.hparams.z, device=self.device)
            grid = torchvision.utils.make_grid(self.G(z), nrow=4, normalize=True)
        self.logger.experiment.add_image("samples", grid, self.current_epoch)

    def configure_optimizers(self):
        b = (0.5, 0.999)
        return [torch.optim.Adam(self.G.parameters(), lr=self.hparams.lr, betas=b),
                torch.optim.Adam(self.D.parameters(), lr=self.hparams.lr, betas=b)]


if __name__ == "__main__":
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    L.seed_everything(7)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dl = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=128, shuffle=True,
                    num_workers=4, drop_last=True)
    L.Trainer(max_epochs=50, accelerator="auto").fit(GAN(), dl)
