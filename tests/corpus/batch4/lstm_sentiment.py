import time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader

from vocab import build_vocab, load_reviews

SEED = 42
EMBED_DIM = 200
HIDDEN = 256
EPOCHS = 8

torch.manual_seed(SEED)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

train_pairs, test_pairs = load_reviews("data/reviews.tsv")
vocab = build_vocab(t for t, _ in train_pairs)


def collate(batch):
    texts, labels = zip(*batch)
    ids = [torch.tensor(vocab.encode(t)[:400], dtype=torch.long) for t in texts]
    lengths = torch.tensor([len(x) for x in ids])
    return pad_sequence(ids, batch_first=True, padding_value=vocab.pad_id), lengths, torch.tensor(labels)


class LstmClassifier(nn.Module):
    def __init__(self, vocab_size, pad_id):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, EMBED_DIM, padding_idx=pad_id)
        self.lstm = nn.LSTM(EMBED_DIM, HIDDEN, num_layers=2, batch_first=True, dropout=0.3, bidirectional=True)
        self.out = nn.Linear(2 * HIDDEN, 2)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        h = torch.cat([h[-2], h[-1]], dim=1)
        return self.out(h)


train_loader = DataLoader(train_pairs, batch_size=64, shuffle=True, collate_fn=collate, num_workers=2)
test_loader = DataLoader(test_pairs, batch_size=128, collate_fn=collate, num_workers=2)

model = LstmClassifier(len(vocab), vocab.pad_id).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

for epoch in range(EPOCHS):
    t0 = time.time()
    model.train()
    total = 0.0
    for ids, lengths, labels in train_loader:
        ids = ids.to(device)
        labels.to(device)
        optimizer.zero_grad()
        logits = model(ids, lengths)
        loss = loss_fn(logits, labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        total += loss.item()

    model.eval()
    correct = n = 0
    with torch.no_grad():
        for ids, lengths, labels in test_loader:
            ids, labels = ids.to(device), labels.to(device)
            correct += (model(ids, lengths).argmax(1) == labels).sum().item()
            n += labels.numel()
    print(f"epoch {epoch} loss {total / len(train_loader):.4f} test acc {correct / n:.4f} ({time.time() - t0:.0f}s)")

torch.save(model.state_dict(), "lstm_sentiment.pt")
