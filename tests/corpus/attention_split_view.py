"""Encoder-only transformer for token classification (NER); learned absolute positions."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout=0.1):
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.n_heads = n_heads
        self.dropout = dropout

    def forward(self, x, pad_mask):
        B, T, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.view(B, T, self.n_heads, -1).transpose(1, 2)  # (B, h, T, d)
        k = k.view(B, T, self.n_heads, -1).transpose(1, 2)
        v = v.view(B, T, self.n_heads, -1).transpose(1, 2)
        attn_mask = ~pad_mask[:, None, None, :]  # (B, 1, 1, T) True = attend
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2)  # (B, T, h, d)
        y = y.view(B, T, C)
        return self.out(y)


class EncoderLayer(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.attn = SelfAttention(d_model, n_heads)
        self.ff = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(0.1)

    def forward(self, x, pad_mask):
        x = x + self.drop(self.attn(self.ln1(x), pad_mask))
        return x + self.drop(self.ff(self.ln2(x)))


class TokenTagger(nn.Module):
    def __init__(self, vocab, n_tags, d_model=256, n_heads=4, n_layers=4, max_len=512):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model, padding_idx=0)
        self.pos = nn.Embedding(max_len, d_model)
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.classifier = nn.Linear(d_model, n_tags)

    def forward(self, tokens):
        pad_mask = tokens == 0
        positions = torch.arange(tokens.size(1))
        h = self.tok(tokens) + self.pos(positions)[None]  # (B, T, d)
        for layer in self.layers:
            h = layer(h, pad_mask)
        return self.classifier(self.norm(h))  # (B, T, n_tags)


class CRFTagger(nn.Module):
    """Tagger + transition scores; decoding only (training uses the plain tagger's emissions)."""

    def __init__(self, tagger, n_tags):
        super().__init__()
        self.tagger = tagger
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))

    def forward(self, tokens):
        emissions = self.tagger.forward(tokens)
        return emissions.log_softmax(-1)

    @torch.no_grad()
    def viterbi(self, tokens):
        scores = self(tokens)  # (B, T, K)
        best = scores[:, 0]
        back = []
        for t in range(1, scores.size(1)):
            total = best.unsqueeze(2) + self.transitions.unsqueeze(0)  # (B, K, K)
            best, idx = total.max(1)
            best = best + scores[:, t]
            back.append(idx)
        path = [best.argmax(-1)]
        for idx in reversed(back):
            path.append(idx.gather(1, path[-1].unsqueeze(1)).squeeze(1))
        return torch.stack(path[::-1], dim=1)
