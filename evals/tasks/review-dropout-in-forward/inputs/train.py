"""Classifier over sentence embeddings with a projection to a variable output width."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class EmbeddingClassifier(nn.Module):
    def __init__(self, dim: int, hidden: int, p_drop: float = 0.3) -> None:
        super().__init__()
        self.hidden = hidden
        self.fc = nn.Linear(dim, hidden)
        self.p_drop = p_drop

    def forward(self, emb: torch.Tensor, n_classes: int) -> torch.Tensor:
        h = F.dropout(F.relu(self.fc(emb)), p=self.p_drop)
        head = nn.Linear(self.hidden, n_classes).to(emb.device)
        return head(h)  # (B, n_classes)


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    emb = torch.randn(8000, 384, device=device)
    labels = torch.randint(0, 6, (8000,), device=device)
    model = EmbeddingClassifier(384, 128).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(10):
        model.train()
        perm = torch.randperm(7000, device=device)
        for i in range(0, 7000, 100):
            idx = perm[i : i + 100]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(emb[idx], 6), labels[idx])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(emb[7000:], 6).argmax(dim=1) == labels[7000:]).float().mean()
        print(f"epoch {epoch}: val accuracy {acc.item():.3f}")


if __name__ == "__main__":
    main()
