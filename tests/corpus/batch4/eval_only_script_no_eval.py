"""Score a saved sentiment model on a held-out CSV and write per-row predictions."""
import argparse
import csv

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from vocab import Vocab  # local


class BiGRU(nn.Module):
    def __init__(self, vocab_size, emb=200, hid=256, n_cls=3, dropout=0.4):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.gru = nn.GRU(emb, hid, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hid, n_cls)

    def forward(self, ids):
        _, h = self.gru(self.emb(ids))
        return self.out(self.drop(torch.cat([h[0], h[1]], dim=-1)))


def read_rows(path, vocab, max_len=128):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    ids = [torch.tensor(vocab.encode(r["text"])[:max_len] or [1]) for r in rows]
    return rows, ids


def pad(batch):
    return nn.utils.rnn.pad_sequence(batch, batch_first=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="bigru_sentiment.pt")
    ap.add_argument("--vocab", default="vocab.json")
    ap.add_argument("--csv", default="data/heldout.csv")
    ap.add_argument("--out", default="predictions.csv")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    vocab = Vocab.load(args.vocab)
    model = BiGRU(len(vocab))
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    model.to(device)

    rows, ids = read_rows(args.csv, vocab)
    loader = DataLoader(ids, batch_size=256, collate_fn=pad)
    preds, confs = [], []
    with torch.no_grad():
        for batch in loader:
            probs = torch.softmax(model(batch.to(device)), dim=-1)
            conf, pred = probs.max(-1)
            preds += pred.tolist()
            confs += conf.tolist()

    labels = ["negative", "neutral", "positive"]
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "confidence"])
        for r, p, c in zip(rows, preds, confs):
            w.writerow([r["id"], labels[p], f"{c:.4f}"])
    acc = sum(labels[p] == r.get("gold") for r, p in zip(rows, preds)) / len(rows)
    print(f"wrote {len(rows)} predictions to {args.out}; accuracy vs gold column {acc:.4f}")


if __name__ == "__main__":
    main()
