"""Binary classifier with a step learning-rate schedule."""

import torch
import torch.nn as nn


class Scorer(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x)).squeeze(-1)  # (B,) probabilities


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(20_000, 30, device=device)
    y = (x[:, 0] * x[:, 1] + x[:, 2] > 0.5).float()
    model = Scorer(30).to(device)
    criterion = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    for epoch in range(20):
        scheduler.step()
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), 256):
            idx = perm[i : i + 256]
            optimizer.zero_grad(set_to_none=False)
            loss = criterion(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: lr {scheduler.get_last_lr()[0]:.4f} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
