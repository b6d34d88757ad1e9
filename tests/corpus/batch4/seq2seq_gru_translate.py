"""GRU encoder-decoder with Bahdanau attention (de -> en), teacher forcing."""
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from nmt_data import PAD, SOS, get_loaders  # local

random.seed(5)
torch.manual_seed(5)
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Encoder(nn.Module):
    def __init__(self, vocab, emb=256, hid=512):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.rnn = nn.GRU(emb, hid, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hid, hid)

    def forward(self, src):
        out, h = self.rnn(self.embedding(src))
        h = torch.tanh(self.fc(torch.cat([h[-2], h[-1]], dim=1)))
        return out, h


class Decoder(nn.Module):
    def __init__(self, vocab, emb=256, hid=512):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.attn = nn.Linear(3 * hid, hid)
        self.v = nn.Linear(hid, 1, bias=False)
        self.rnn = nn.GRU(emb + 2 * hid, hid, batch_first=True)
        self.out = nn.Linear(3 * hid + emb, vocab)

    def forward(self, tok, h, enc_out):
        e = self.embedding(tok).unsqueeze(1)
        scores = self.v(torch.tanh(self.attn(torch.cat([h.unsqueeze(1).expand(-1, enc_out.size(1), -1), enc_out], 2))))
        a = F.softmax(scores, dim=1)
        ctx = (a * enc_out).sum(1, keepdim=True)
        o, h = self.rnn(torch.cat([e, ctx], 2), h.unsqueeze(0))
        logits = self.out(torch.cat([o, ctx, e], 2).squeeze(1))
        return logits, h.squeeze(0)


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab):
        super().__init__()
        self.enc = Encoder(src_vocab)
        self.dec = Decoder(tgt_vocab)

    def forward(self, src, tgt, teacher_forcing=0.5):
        enc_out, h = self.enc(src)
        tok = tgt[:, 0]
        outputs = []
        for t in range(1, tgt.size(1)):
            logits, h = self.dec(tok, h, enc_out)
            outputs.append(logits)
            tok = tgt[:, t] if random.random() < teacher_forcing else logits.argmax(1)
        return torch.stack(outputs, 1)


def main(epochs=15):
    train_loader, valid_loader, src_vocab, tgt_vocab = get_loaders(batch_size=128)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab)).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    for epoch in range(epochs):
        model.train()
        for src, tgt in train_loader:
            src, tgt = src.to(DEVICE), tgt.to(DEVICE)
            out = model(src, tgt)
            loss = F.nll_loss(out.reshape(-1, out.size(-1)), tgt[:, 1:].reshape(-1), ignore_index=PAD)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for src, tgt in valid_loader:
                src, tgt = src.to(DEVICE), tgt.to(DEVICE)
                out = model(src, tgt, teacher_forcing=0.0)
                total += F.cross_entropy(out.reshape(-1, out.size(-1)), tgt[:, 1:].reshape(-1),
                                         ignore_index=PAD).item()
                n += 1
        print(f"epoch {epoch} valid loss {total / n:.3f}")
    torch.save(model.state_dict(), "seq2seq_gru.pt")


if __name__ == "__main__":
    main()
