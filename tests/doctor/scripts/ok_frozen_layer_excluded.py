# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""A pretrained embedding deliberately frozen and filtered out of the optimizer (requires_grad filter)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, DIM = 120, 16


class Tagger(nn.Module):
    def __init__(self, pretrained):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(pretrained, freeze=True)
        self.conv = nn.Conv1d(DIM, 32, 3, padding=1)
        self.out = nn.Linear(32, 4)

    def forward(self, tokens):
        h = F.relu(self.conv(self.embed(tokens).transpose(1, 2))).transpose(1, 2)
        return self.out(h)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    model = Tagger(torch.randn(VOCAB, DIM, generator=gen))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=3e-3, weight_decay=0.01)
    print("trainable tensors:", len(trainable), "frozen:", sum(not p.requires_grad for p in model.parameters()))
    for step in range(30):
        tokens = torch.randint(0, VOCAB, (16, 12), generator=gen)
        tags = tokens % 4
        loss = F.cross_entropy(model(tokens).flatten(0, 1), tags.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f}")
