"""Memory-lean residual MLP: in-place updates on saved activations, made safe by allow_mutation_on_saved_tensors."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class LeanBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        h = self.fc1(self.norm(x))
        h = F.gelu(h)
        out = self.fc2(h)
        return x + out


class LeanMLP(nn.Module):
    def __init__(self, d_in=64, d=256, depth=6, n_out=10):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = nn.ModuleList(LeanBlock(d) for _ in range(depth))
        self.out = nn.Linear(d, n_out)

    def forward(self, x):
        h = self.inp(x)
        for blk in self.blocks:
            h = blk(h)
        return self.out(h)


def train(model, loader, epochs=5, lr=1e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            with torch.autograd.graph.allow_mutation_on_saved_tensors():
                z = model.inp(x)
                act = torch.sigmoid(z)
                act.mul_(2.0)
                h = z * act
                for blk in model.blocks:
                    h = blk(h)
                loss = F.cross_entropy(model.out(h), y)
                opt.zero_grad()
                loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    xs, ys = torch.randn(2048, 64), torch.randint(0, 10, (2048,))
    loader = DataLoader(TensorDataset(xs, ys), batch_size=128, shuffle=True)
    train(LeanMLP(), loader)
