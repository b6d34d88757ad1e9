"""Word-level LSTM language model on WikiText-2 with truncated BPTT (hidden state carried, detached)."""
import argparse
import math

import torch
import torch.nn as nn

from corpus import Corpus  # local tokeniser


def batchify(data, bsz, device):
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous().to(device)


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp=650, nhid=650, nlayers=2, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight  # weight tying (ninp == nhid)
        self.nlayers, self.nhid = nlayers, nhid

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)).view(-1, self.decoder.out_features), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))


def evaluate(model, source, bptt, criterion):
    model.eval()
    total = 0.0
    hidden = model.init_hidden(source.size(1))
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, bptt):
            x, y = get_batch(source, i, bptt)
            out, hidden = model(x, hidden)
            total += len(x) * criterion(out, y).item()
    return total / (len(source) - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/wikitext-2")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=20.0)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--clip", type=float, default=0.25)
    args = ap.parse_args()
    torch.manual_seed(1111)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    corpus = Corpus(args.data)
    train_data = batchify(corpus.train, 20, device)
    val_data = batchify(corpus.valid, 10, device)
    model = RNNModel(len(corpus.dictionary)).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.25, patience=0)

    best_val = None
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden = model.init_hidden(20)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
            x, y = get_batch(train_data, i, args.bptt)
            hidden = repackage_hidden(hidden)
            optimizer.zero_grad()
            out, hidden = model(x, hidden)
            loss = criterion(out, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
        val_loss = evaluate(model, val_data, args.bptt, criterion)
        scheduler.step(val_loss)
        print(f"epoch {epoch} valid loss {val_loss:.2f} ppl {math.exp(val_loss):.2f}")
        if best_val is None or val_loss < best_val:
            best_val = val_loss
            torch.save(model.state_dict(), "lm_best.pt")


if __name__ == "__main__":
    main()
