"""Deep MLP with activation checkpointing and a frozen input embedding."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data._utils.collate import default_collate


class DeepMLP(nn.Module):
    def __init__(self, vocab: int, dim: int, depth: int, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.GELU()) for _ in range(depth))
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens).mean(dim=1)  # (B, T) -> (B, dim)
        for layer in self.layers:
            h = checkpoint(layer, h)
        return self.head(h)


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = DeepMLP(vocab=2000, dim=256, depth=12, classes=4).to(device)
    for p in model.embed.parameters():
        p.require_grad = False
    tokens = torch.randint(0, 2000, (2048, 32))
    labels = tokens[:, 0] % 4
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=64, shuffle=True, collate_fn=default_collate,
                        pin_memory=device.type == "cuda")
    optimizer = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=1e-3)
    model.train()
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"last loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
