# char-level language model, the classic "tiny shakespeare" exercise
import math
import time

import torch
import torch.nn as nn

torch.manual_seed(1111)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

text = open("data/tinyshakespeare.txt").read()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
split = int(0.9 * len(data))
train_data, val_data = data[:split], data[split:]

BATCH = 32
BPTT = 128
EMB = 64
HID = 512
LAYERS = 2
EPOCHS = 20
CLIP = 0.25


def batchify(d, bsz):
    nb = d.size(0) // bsz
    return d[: nb * bsz].view(bsz, -1).t().contiguous().to(device)


class CharLSTM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb = nn.Embedding(vocab, EMB)
        self.rnn = nn.LSTM(EMB, HID, LAYERS, dropout=0.2)
        self.drop = nn.Dropout(0.2)
        self.dec = nn.Linear(HID, vocab)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.emb(x)), hidden)
        return self.dec(self.drop(out)), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(LAYERS, bsz, HID), w.new_zeros(LAYERS, bsz, HID))


train_b = batchify(train_data, BATCH)
val_b = batchify(val_data, 10)
model = CharLSTM(len(chars)).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)


def evaluate(source):
    model.eval()
    total = 0.0
    hidden = model.init_hidden(10)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, BPTT):
            seq_len = min(BPTT, source.size(0) - 1 - i)
            x, y = source[i:i + seq_len], source[i + 1:i + 1 + seq_len]
            out, hidden = model(x, hidden)
            total += seq_len * criterion(out.view(-1, len(chars)), y.reshape(-1)).item()
    return total / (source.size(0) - 1)


for epoch in range(1, EPOCHS + 1):
    model.train()
    t0 = time.time()
    hidden = model.init_hidden(BATCH)
    for batch, i in enumerate(range(0, train_b.size(0) - 1, BPTT)):
        seq_len = min(BPTT, train_b.size(0) - 1 - i)
        x, y = train_b[i:i + seq_len], train_b[i + 1:i + 1 + seq_len]
        optimizer.zero_grad()
        out, hidden = model(x, hidden)
        loss = criterion(out.view(-1, len(chars)), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        if batch % 100 == 0:
            print(f"| epoch {epoch} | batch {batch} | loss {loss.item():.3f} | ppl {math.exp(loss.item()):.1f}")
    val_loss = evaluate(val_b)
    print(f"end of epoch {epoch} | {time.time() - t0:.0f}s | val loss {val_loss:.3f} | bpc {val_loss / math.log(2):.3f}")

torch.save(model.state_dict(), "char_lstm.pt")
