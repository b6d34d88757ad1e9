"""Regression MLP with per-epoch validation."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Regressor(nn.Module):
    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 64), nn.GELU(), nn.Dropout(0.3), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)  # (B, n_in) -> (B,)


@torch.no_grad()
def validate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return F.mse_loss(model(x), y).item()


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(6000, 12, device=device)
    y = x @ torch.linspace(-1, 1, 12, device=device) + 0.1 * torch.randn(6000, device=device)
    x_train, y_train, x_val, y_val = x[:5000], y[:5000], x[5000:], y[5000:]

    model = Regressor(12).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for epoch in range(30):
        perm = torch.randperm(len(x_train), device=device)
        for i in range(0, len(x_train), 100):
            idx = perm[i : i + 100]
            optimizer.zero_grad()
            loss = F.mse_loss(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: val mse {validate(model, x_val, y_val):.4f}")


if __name__ == "__main__":
    main()
