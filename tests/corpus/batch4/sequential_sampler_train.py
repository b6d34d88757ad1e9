"""Question-answer relevance model trained from a pre-tokenised memory-mapped shard."""
import argparse

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, SequentialSampler


class Shard(Dataset):
    def __init__(self, path, seq_len=256):
        self.tokens = np.load(path, mmap_mode="r")
        self.labels = np.load(path.replace(".npy", "_labels.npy"))
        self.seq_len = seq_len

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(self.tokens[i, : self.seq_len].astype(np.int64)), float(self.labels[i])


class Scorer(nn.Module):
    def __init__(self, vocab=50000, d=256):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        enc = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, 4)
        self.out = nn.Linear(d, 1)

    def forward(self, ids):
        return self.out(self.encoder(self.emb(ids)).mean(1)).squeeze(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="data/qa_train.npy")
    ap.add_argument("--dev", default="data/qa_dev.npy")
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(11)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_ds, dev_ds = Shard(args.train), Shard(args.dev)
    train_dl = DataLoader(train_ds, batch_size=64, sampler=SequentialSampler(train_ds), num_workers=4)
    dev_dl = DataLoader(dev_ds, batch_size=256, num_workers=4)
    model = Scorer().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        model.train()
        for ids, y in train_dl:
            ids, y = ids.to(device), y.float().to(device)
            loss = loss_fn(model(ids), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        hits = n = 0
        with torch.no_grad():
            for ids, y in dev_dl:
                pred = (model(ids.to(device)) > 0).float().cpu()
                hits += (pred == y.float()).sum().item()
                n += len(y)
        print(f"epoch {epoch} dev acc {hits / n:.4f}")
    torch.save(model.state_dict(), "qa_scorer.pt")


if __name__ == "__main__":
    main()
