# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""StepLR sized in epochs and stepped once per epoch, inside a Trainer."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, lr=0.05, step_epochs=2, gamma=0.5):
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=step_epochs, gamma=gamma)

    def fit(self, loader, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in loader:
                self.opt.zero_grad()
                loss = nn.functional.mse_loss(self.model(x), y)
                loss.backward()
                self.opt.step()
            self.sched.step()
            print(f"epoch {epoch} loss {loss.item():.4f} next lr {self.sched.get_last_lr()[0]:.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(256, 6)
    y = x @ torch.tensor([[0.5], [-1.0], [2.0], [0.0], [1.0], [-0.5]]) + 0.05 * torch.randn(256, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    Trainer(nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))).fit(loader, epochs=5)
