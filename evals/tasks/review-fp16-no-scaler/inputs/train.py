"""Fine-tune a regressor under float16 autocast on the GPU."""

import torch
import torch.nn as nn


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(20_000, 64, device=device)
    y = torch.sin(x[:, :8]).sum(dim=1, keepdim=True)
    for epoch in range(10):
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), 512):
            idx = perm[i : i + 512]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device.type == "cuda"):
                loss = nn.functional.mse_loss(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.5f}")


if __name__ == "__main__":
    main()
