import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nmt_data import BOS, EOS, PAD, make_loaders  # local


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        pe = torch.zeros(max_len, d_model)
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe.unsqueeze(0), persistent=False)

    def forward(self, x):
        return self.dropout(x + self.pe[:, : x.size(1)])


class Translator(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, d_model=512, nhead=8, layers=6):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, d_model, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model, padding_idx=PAD)
        self.pos = PositionalEncoding(d_model)
        self.transformer = nn.Transformer(d_model, nhead, layers, layers, 2048, 0.1, batch_first=True)
        self.generator = nn.Linear(d_model, tgt_vocab)
        self.scale = math.sqrt(d_model)

    def forward(self, src, tgt_in):
        causal = self.transformer.generate_square_subsequent_mask(tgt_in.size(1), device=src.device)
        h = self.transformer(
            self.pos(self.src_emb(src) * self.scale), self.pos(self.tgt_emb(tgt_in) * self.scale),
            tgt_mask=causal, src_key_padding_mask=src == PAD, tgt_key_padding_mask=tgt_in == PAD,
            memory_key_padding_mask=src == PAD)
        return self.generator(h)


@torch.no_grad()
def greedy_decode(model, src, max_len=100):
    model.eval()
    ys = torch.full((src.size(0), 1), BOS, dtype=torch.long, device=src.device)
    for _ in range(max_len):
        logp = F.log_softmax(model(src, ys)[:, -1], dim=-1)
        ys = torch.cat([ys, logp.argmax(-1, keepdim=True)], dim=1)
        if (ys == EOS).any(1).all():
            break
    return ys


def main(epochs=20, warmup=4000):
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_dl, valid_dl, sv, tv = make_loaders(batch_size=64)
    model = Translator(len(sv), len(tv)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    d = 512
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: d ** -0.5 * min((s + 1) ** -0.5, (s + 1) * warmup ** -1.5))
    criterion = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)

    for epoch in range(epochs):
        model.train()
        for src, tgt in train_dl:
            src, tgt = src.to(device), tgt.to(device)
            logits = model(src, tgt[:, :-1])
            loss = criterion(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for src, tgt in valid_dl:
                src, tgt = src.to(device), tgt.to(device)
                logits = model(src, tgt[:, :-1])
                tot += criterion(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1)).item()
                n += 1
        sample = greedy_decode(model, src[:2])
        print(f"epoch {epoch} valid {tot / n:.3f} sample {sample[0, :12].tolist()}")
    torch.save(model.state_dict(), "translator.pt")


if __name__ == "__main__":
    main()
