# doctor-expect: PT-RUN008
# doctor-args:
# doctor-options:
# doctor-bug: the pretrained embedding is frozen (requires_grad=False) but the optimizer is still built over model.parameters(): its param group holds tensors that require no grad
"""Bag-of-embeddings text classifier with a frozen pretrained embedding table."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, DIM, CLASSES = 200, 16, 3


class BagClassifier(nn.Module):
    def __init__(self, pretrained):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(pretrained, freeze=False)
        self.embed.weight.requires_grad = False
        self.proj = nn.Linear(DIM, 32)
        self.out = nn.Linear(32, CLASSES)

    def forward(self, tokens):
        h = self.embed(tokens).mean(1)
        return self.out(F.relu(self.proj(h)))


def fake_corpus(n, seq, gen):
    tokens = torch.randint(0, VOCAB, (n, seq), generator=gen)
    labels = (tokens.float().mean(1) * CLASSES / VOCAB).long().clamp(max=CLASSES - 1)
    return tokens, labels


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    tokens, labels = fake_corpus(480, 12, gen)
    model = BagClassifier(torch.randn(VOCAB, DIM, generator=gen))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    for epoch in range(2):
        perm = torch.randperm(len(tokens))
        for i in range(0, len(tokens), 32):
            idx = perm[i:i + 32]
            loss = F.cross_entropy(model(tokens[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
