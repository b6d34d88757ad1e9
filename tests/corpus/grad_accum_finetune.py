"""Fine-tune a text classifier with gradient accumulation (effective batch = batch_size * accum_steps)."""
import argparse
import random

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab, dim=256, n_classes=4):
        super().__init__()
        self.emb = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.fc = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(0.1), nn.Linear(dim, n_classes))

    def forward(self, tokens):
        return self.fc(self.emb(tokens))  # (B, n_classes)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--accum-steps", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    data = np.load("ag_news_ids.npz")
    tokens = torch.from_numpy(data["tokens"]).long()  # (N, 64)
    labels = torch.from_numpy(data["labels"]).long()
    order = np.random.permutation(len(tokens))
    split = int(0.95 * len(order))
    train_ds = TensorDataset(tokens[order[:split]], labels[order[:split]])
    val_ds = TensorDataset(tokens[order[split:]], labels[order[split:]])
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_ds, batch_size=32, shuffle=True, generator=g, num_workers=0,
                              pin_memory=device.type == "cuda")
    val_loader = DataLoader(val_ds, batch_size=256, num_workers=0, pin_memory=device.type == "cuda")

    model = BagOfEmbeddings(int(tokens.max()) + 1).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        running = torch.zeros((), device=device)
        for i, (x, y) in enumerate(train_loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = criterion(model(x), y) / args.accum_steps
            loss.backward()
            running += loss.detach()
            if (i + 1) % args.accum_steps == 0:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        model.eval()
        correct = torch.zeros((), device=device)
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device), y.to(device)
                correct += (model(x).argmax(-1) == y).sum()
        print(f"epoch {epoch}: loss {running.item() * args.accum_steps / len(train_loader):.4f} "
              f"val acc {correct.item() / len(val_ds):.4f}")
    torch.save(model.state_dict(), "bag_of_embeddings.pt")


if __name__ == "__main__":
    main()
