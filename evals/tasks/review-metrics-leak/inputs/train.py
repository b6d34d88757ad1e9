"""Multi-label tagger; tracks loss and logits per epoch."""

import torch
import torch.nn as nn
import torch.nn.functional as F


def auc_proxy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    pos = logits[targets == 1]
    neg = logits[targets == 0]
    return (pos.mean() - neg.mean()).item()


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(50_000, 40, device=device)
    targets = (x[:, :8] > 0.8).float()  # (N, 8) multi-hot
    model = nn.Sequential(nn.Linear(40, 128), nn.ReLU(), nn.Linear(128, 8)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(10):
        total_loss = 0.0
        all_logits, all_targets = [], []
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), 500):
            idx = perm[i : i + 500]
            logits = model(x[idx])
            loss = F.binary_cross_entropy_with_logits(logits, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss
            all_logits.append(logits)
            all_targets.append(targets[idx])
        score = auc_proxy(torch.cat(all_logits).detach(), torch.cat(all_targets))
        print(f"epoch {epoch}: mean loss {total_loss.item() / 100:.4f}, separation {score:.3f}")


if __name__ == "__main__":
    main()
