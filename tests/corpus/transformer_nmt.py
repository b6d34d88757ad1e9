"""Seq2seq Transformer for translation (pre-tokenised id tensors), trained with teacher forcing."""
import math

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

PAD, BOS, EOS = 0, 1, 2


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=512):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len

    def forward(self, x):
        T = x.size(1)
        pos = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
        div = torch.exp(torch.arange(0, self.d_model, 2, device=x.device) * (-math.log(10000.0) / self.d_model))
        pe = torch.zeros(T, self.d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        return x + pe


class MultiHeadProjection(nn.Module):
    """Splits d_model into heads and merges them back (used for the decoder's cross-attention probe)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x):
        B, T, D = x.shape
        d = D // self.n_heads
        q = x.view(B, T, self.n_heads, d).permute(0, 2, 1, 3)  # (B, H, T, d)
        att = torch.softmax(q @ q.transpose(-2, -1) / math.sqrt(d), dim=-1)  # (B, H, T, T)
        heads = att @ q  # (B, H, T, d)
        merged = heads.permute(0, 2, 1, 3).view(B, T, D)
        return self.out(merged)


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d_model=256, n_heads=8, layers=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.pos = PositionalEncoding(d_model)
        self.transformer = nn.Transformer(d_model, n_heads, layers, layers, 4 * d_model, batch_first=True)
        self.probe = MultiHeadProjection(d_model, n_heads)
        self.generator = nn.Linear(d_model, vocab)

    def forward(self, src, tgt_in):
        tgt_mask = self.transformer.generate_square_subsequent_mask(tgt_in.size(1), device=src.device)
        h = self.transformer(self.pos(self.embed(src)), self.pos(self.embed(tgt_in)), tgt_mask=tgt_mask,
                             src_key_padding_mask=src == PAD, tgt_key_padding_mask=tgt_in == PAD)
        return self.generator(self.probe(h))  # (B, T, vocab)


if __name__ == "__main__":
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pairs = torch.load("wmt_ids.pt", map_location="cpu", weights_only=True)
    ds = TensorDataset(pairs["src"], pairs["tgt"])
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=g, pin_memory=device.type == "cuda")
    model = Seq2Seq(int(pairs["vocab_size"])).to(device)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.9, 0.98))
    for epoch in range(10):
        model.train()
        total = torch.zeros((), device=device)
        for src, tgt in loader:
            src, tgt = src.to(device, non_blocking=True), tgt.to(device, non_blocking=True)
            logits = model(src, tgt[:, :-1])
            loss = criterion(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.detach()
        print(f"epoch {epoch}: loss {total.item() / len(loader):.3f}")
    torch.save(model.state_dict(), "nmt.pt")
