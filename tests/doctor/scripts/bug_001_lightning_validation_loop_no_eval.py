# doctor-expect: PT-RUN001
# doctor-args:
# doctor-options:
# doctor-bug: the hand-written Lightning-style loop runs `validation_step` under torch.no_grad() every 4 batches but never calls module.eval(): dropout is active in every validation forward
"""Lightning-style module with a hand-written fit loop that validates every few batches."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class LitClassifier(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, hidden), nn.GELU(), nn.Dropout(0.3), nn.Linear(hidden, 3))

    def forward(self, x):
        return self.body(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return {"loss": F.cross_entropy(self(x), y)}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        return (self(x).argmax(-1) == y).float().mean()

    def configure_optimizers(self):
        return {"optimizer": torch.optim.AdamW(self.parameters(), lr=2e-3, weight_decay=0.01)}


class Loop:
    def __init__(self, module, every=4):
        self.module, self.every = module, every
        self.opt = module.configure_optimizers()["optimizer"]

    def run_validation(self, loader):
        with torch.no_grad():
            accs = [self.module.validation_step(b, i) for i, b in enumerate(loader)]
        return torch.stack(accs).mean()

    def fit(self, train_loader, val_loader, epochs):
        self.module.train()
        for epoch in range(epochs):
            for i, batch in enumerate(train_loader):
                out = self.module.training_step(batch, i)
                self.opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                self.opt.step()
                if i % self.every == self.every - 1:
                    print(f"epoch {epoch} step {i} val_acc {float(self.run_validation(val_loader)):.3f}")


def make(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    return TensorDataset(x, (x[:, :3].argmax(-1)))


if __name__ == "__main__":
    torch.manual_seed(1)
    torch.set_num_threads(1)
    Loop(LitClassifier()).fit(DataLoader(make(256, 0), batch_size=32, shuffle=True),
                              DataLoader(make(96, 1), batch_size=48), epochs=3)
