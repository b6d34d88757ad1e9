# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Small character-level language model (embedding + causal self-attention), nanoGPT-style get_batch."""
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT = "the quick brown fox jumps over the lazy dog. " * 40
BLOCK, BATCH = 16, 16


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=32, heads=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(BLOCK, dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=0.1, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(0.1))
        self.head = nn.Linear(dim, vocab)
        self.register_buffer("mask", torch.triu(torch.ones(BLOCK, BLOCK, dtype=torch.bool), 1))

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t))
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=self.mask[:t, :t], need_weights=False)[0]
        x = x + self.ff(self.ln2(x))
        return self.head(x)


def get_batch(data):
    ix = torch.randint(len(data) - BLOCK - 1, (BATCH,))
    x = torch.stack([data[i:i + BLOCK] for i in ix])
    y = torch.stack([data[i + 1:i + BLOCK + 1] for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss(model, data, iters=4):
    model.eval()
    losses = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in
              (get_batch(data) for _ in range(iters))]
    model.train()
    return sum(losses) / len(losses)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    chars = sorted(set(TEXT))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in TEXT])
    train_data, val_data = data[:1600], data[1600:]
    model = TinyLM(len(chars))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for it in range(40):
        if it % 10 == 0:
            print(f"iter {it} val loss {estimate_loss(model, val_data):.4f}")
        x, y = get_batch(train_data)
        logits = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
