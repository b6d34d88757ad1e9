"""Word-level LSTM language model on a tokenised corpus, truncated BPTT (after the classic example)."""
import argparse
import math

import torch
import torch.nn as nn

from corpus_utils import Corpus


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp=650, nhid=650, nlayers=2, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight  # tied weights
        self.nlayers, self.nhid = nlayers, nhid

    def forward(self, inp, hidden):
        emb = self.drop(self.encoder(inp))  # (T, B, ninp)
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden  # (T, B, ntoken)

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz, device):
    nbatch = data.size(0) // bsz
    return data[: nbatch * bsz].view(bsz, -1).t().contiguous().to(device)  # (N, bsz)


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


def evaluate(model, data_source, bptt, ntokens):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(data_source.size(1))
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            total_loss += len(data) * nn.functional.cross_entropy(output.view(-1, ntokens), targets).item()
    return total_loss / (len(data_source) - 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="./data/wikitext-2")
    parser.add_argument("--lr", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--seed", type=int, default=1111)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    corpus = Corpus(args.data)
    train_data = batchify(corpus.train, 20, device)
    val_data = batchify(corpus.valid, 10, device)
    ntokens = len(corpus.dictionary)
    model = RNNModel(ntokens).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden = model.init_hidden(20)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
            data, targets = get_batch(train_data, i, args.bptt)
            hidden = tuple(h.detach() for h in hidden)  # truncate BPTT
            optimizer.zero_grad()
            output, hidden = model(data, hidden)
            loss = nn.functional.cross_entropy(output.view(-1, ntokens), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            optimizer.step()
            if batch % 200 == 0:
                print(f"epoch {epoch} batch {batch}: ppl {math.exp(loss.item()):.2f}")
        val_loss = evaluate(model, val_data, args.bptt, ntokens)
        print(f"end of epoch {epoch}: valid ppl {math.exp(val_loss):.2f}")
    with open("lstm_lm.pt", "wb") as f:
        torch.save(model.state_dict(), f)


if __name__ == "__main__":
    main()
