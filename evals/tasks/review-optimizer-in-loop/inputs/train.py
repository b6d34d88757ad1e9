"""GRU sequence regressor."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SeqRegressor(nn.Module):
    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(n_in, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # (B, T, hidden)
        return self.out(h[:, -1]).squeeze(-1)  # (B,)


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(4000, 20, 6)
    y = x[:, :, 0].cumsum(dim=1)[:, -1]
    model = SeqRegressor(6, 32)
    for epoch in range(15):
        model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            xb, yb = x[idx].to(device), y[idx].to(device)
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
