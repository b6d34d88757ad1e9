"""Bag-of-embeddings text classifier on pre-tokenised sequences."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, dim: int, num_classes: int) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens))  # (B, T) -> (B, dim) -> (B, C)


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokens = torch.randint(1, args.vocab_size, (4096, 64))
    labels = (tokens[:, 0] % 4).long()
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=64, shuffle=True, pin_memory=device.type == "cuda")

    model = BagOfEmbeddings(args.vocab_size, 64, 4).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(args.epochs):
        model.train()
        correct = 0
        for tokens_b, labels_b in loader:
            tokens_b = tokens_b.to(device, non_blocking=True)
            logits = model(tokens_b)
            loss = F.cross_entropy(logits, labels_b)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += (logits.argmax(dim=1) == labels_b).sum()
        print(f"epoch {epoch}: train accuracy {correct.item() / len(loader.dataset):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--vocab-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    train(parser.parse_args())
