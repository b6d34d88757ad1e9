"""Intent classification with a GRU over subword ids; hidden state is fresh for every batch."""
import json
import random

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

SEED = 2023
random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)


class IntentData(Dataset):
    def __init__(self, path, vocab, labels, max_len=48):
        with open(path) as f:
            rows = [json.loads(l) for l in f]
        self.x = [[vocab.get(t, 1) for t in r["tokens"]][:max_len] for r in rows]
        self.y = [labels[r["intent"]] for r in rows]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return torch.tensor(self.x[i]), self.y[i]


def pad_batch(batch):
    seqs, ys = zip(*batch)
    lens = torch.tensor([len(s) for s in seqs])
    return nn.utils.rnn.pad_sequence(seqs, batch_first=True), lens, torch.tensor(ys)


class GRUClassifier(nn.Module):
    def __init__(self, vocab_size, n_classes, emb=128, hid=256):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.gru = nn.GRU(emb, hid, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * hid, n_classes)
        self.hid = hid

    def forward(self, x, lens):
        h0 = torch.zeros(2, x.size(0), self.hid, device=x.device)
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(x), lens.cpu(), batch_first=True, enforce_sorted=False)
        _, hn = self.gru(packed, h0)
        return self.fc(self.drop(torch.cat([hn[0], hn[1]], dim=-1)))


def train(epochs=15):
    vocab = json.load(open("data/vocab.json"))
    labels = json.load(open("data/intents.json"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_dl = DataLoader(IntentData("data/train.jsonl", vocab, labels), batch_size=64, shuffle=True,
                          collate_fn=pad_batch, num_workers=2)
    dev_dl = DataLoader(IntentData("data/dev.jsonl", vocab, labels), batch_size=256, collate_fn=pad_batch,
                        num_workers=2)
    model = GRUClassifier(len(vocab), len(labels)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    best = 0.0
    for epoch in range(epochs):
        model.train()
        for x, lens, y in train_dl:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = loss_fn(model(x, lens), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, lens, y in dev_dl:
                pred = model(x.to(device), lens).argmax(-1).cpu()
                correct += (pred == y).sum().item()
                total += len(y)
        acc = correct / total
        print(f"epoch {epoch} dev acc {acc:.4f}")
        if acc > best:
            best = acc
            torch.save(model.state_dict(), "gru_intent.pt")
    return best


if __name__ == "__main__":
    train()
