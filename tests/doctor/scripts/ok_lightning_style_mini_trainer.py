# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Lightning-style module (training_step / validation_step / configure_optimizers) and a mini trainer."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class LitRegressor(nn.Module):
    def __init__(self, lr=3e-3):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        return F.l1_loss(self(x), y)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        return opt, sched


class MiniTrainer:
    def __init__(self, max_epochs=3, val_check_interval=5):
        self.max_epochs, self.val_check_interval = max_epochs, val_check_interval

    @torch.no_grad()
    def _validate(self, module, loader):
        was_training = module.training
        module.eval()
        out = torch.stack([module.validation_step(b, i) for i, b in enumerate(loader)]).mean().item()
        module.train(was_training)
        return out

    def fit(self, module, train_loader, val_loader):
        opt, sched = module.configure_optimizers()
        for epoch in range(self.max_epochs):
            module.train()
            for i, batch in enumerate(train_loader):
                opt.zero_grad()
                loss = module.training_step(batch, i)
                loss.backward()
                opt.step()
                if (i + 1) % self.val_check_interval == 0:
                    print(f"epoch {epoch} batch {i} val_mae {self._validate(module, val_loader):.4f}")
            sched.step()


def dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, x[:, 0] - 2 * x[:, 3] + 0.1 * torch.randn(n, generator=g))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = DataLoader(dataset(320, 0), batch_size=32, shuffle=True)
    val = DataLoader(dataset(64, 1), batch_size=64)
    MiniTrainer().fit(LitRegressor(), train, val)
