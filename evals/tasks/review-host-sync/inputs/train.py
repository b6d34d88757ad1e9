"""Character-level language model training loop."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharLM(nn.Module):
    def __init__(self, vocab: int = 96, dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.LSTM(dim, dim, batch_first=True)
        self.out = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(tokens))  # (B, T, dim)
        return self.out(h)  # (B, T, vocab)


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = torch.randint(0, 96, (200_000,), device=device)
    model = CharLM().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    running = 0.0
    model.train()
    for step in range(1, 2001):
        starts = torch.randint(0, len(text) - 129, (32,), device=device)
        chunk = text[starts[:, None] + torch.arange(129, device=device)]  # (B, T + 1)
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 96), chunk[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running += loss.item()
        if step % 200 == 0:
            print(f"step {step}: mean loss {running / 200:.4f}")
            running = 0.0


if __name__ == "__main__":
    main()
