# doctor-expect: PT-RUN002
# doctor-args:
# doctor-options:
# doctor-bug: MiniTrainer runs validation every 8 batches (val_check_interval) by calling module.eval() and never switches back: training forwards after the first validation run in eval mode
"""Lightning-style module with a hand-written mini trainer."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class LitClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3))
        self.out = nn.Linear(32, 3)

    def forward(self, x):
        return self.out(self.body(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        return (self(x).argmax(1) == y).float().mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


class MiniTrainer:
    def __init__(self, max_epochs=2, val_check_interval=8):
        self.max_epochs = max_epochs
        self.val_check_interval = val_check_interval

    def _validate(self, module, loader):
        module.eval()
        with torch.no_grad():
            accs = [module.validation_step(b, i) for i, b in enumerate(loader)]
        return torch.stack(accs).mean().item()

    def fit(self, module, train_loader, val_loader):
        opt = module.configure_optimizers()
        module.train()
        for epoch in range(self.max_epochs):
            for i, batch in enumerate(train_loader):
                loss = module.training_step(batch, i)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if (i + 1) % self.val_check_interval == 0:
                    print(f"epoch {epoch} batch {i} val_acc {self._validate(module, val_loader):.3f}")


def dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    return TensorDataset(x, x[:, :3].argmax(1))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = DataLoader(dataset(512, 0), batch_size=32, shuffle=True)
    val = DataLoader(dataset(96, 1), batch_size=48)
    MiniTrainer().fit(LitClassifier(), train, val)
