"""Residual MLP for tabular regression."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.fc1(x))
        out = torch.sigmoid(self.fc2(out))
        out *= x
        return out


class ResidualMLP(nn.Module):
    def __init__(self, n_in: int, dim: int, depth: int) -> None:
        super().__init__()
        self.stem = nn.Linear(n_in, dim)
        self.blocks = [ResidualBlock(dim) for _ in range(depth)]
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # (B, dim)
        for block in self.blocks:
            h = block(h)
        return self.head(h).squeeze(-1)  # (B,)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(4096, 10)
    y = x.pow(2).sum(dim=1)
    model = ResidualMLP(10, 64, depth=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(500):
        idx = torch.randint(0, len(x), (128,))
        optimizer.zero_grad()
        loss = F.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
    print(f"final loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
