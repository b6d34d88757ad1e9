"""Sequence classification with an embedding + GRU + dropout + linear head on the last time step's output.

Each epoch's shuffle is drawn from a generator seeded with (seed, epoch); a resume rebuilds it from the step,
and restores the global RNG so that dropout masks continue where they stopped.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass
class Config:
    vocab: int = 16
    seq_len: int = 8
    n_classes: int = 4
    embed: int = 12
    hidden: int = 24
    dropout: float = 0.2
    batch_size: int = 32
    lr: float = 5e-3
    clip: float = 1.0


class SequenceClassifier(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab, cfg.embed)
        self.rnn = nn.GRU(cfg.embed, cfg.hidden, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.hidden, cfg.n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(self.embedding(tokens))  # (B, T, hidden)
        last = outputs[:, -1]  # (B, hidden): the final hidden state of a 1-layer unidirectional GRU
        return self.classifier(self.drop(last))  # (B, n_classes)


def synthetic(cfg: Config, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(cfg.vocab, (n, cfg.seq_len), generator=g)  # (n, T)
    counts = torch.zeros(n, cfg.vocab, dtype=torch.long).scatter_add_(1, tokens, torch.ones_like(tokens))
    most_common = counts.argmax(dim=1)  # (n,)
    return tokens, most_common * cfg.n_classes // cfg.vocab


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-steps", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    cfg = Config()

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    data_g = torch.Generator().manual_seed(10_000 + args.seed)
    train_x, train_y = synthetic(cfg, 512, data_g)
    val_x, val_y = synthetic(cfg, 256, data_g)
    train_x, train_y, val_x, val_y = (t.to(device) for t in (train_x, train_y, val_x, val_y))

    model = SequenceClassifier(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    criterion = nn.CrossEntropyLoss()

    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / "state.pt"
    step = 0
    if args.resume:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["cpu_rng"])
        step = ckpt["step"]

    per_epoch = len(train_x) // cfg.batch_size

    def evaluate() -> float:
        model.eval()
        with torch.inference_mode():
            return (model(val_x).argmax(-1) == val_y).float().mean().item()

    while step < args.max_steps:
        epoch, k = divmod(step, per_epoch)
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(args.seed * 7919 + epoch))
        batch = order[k * cfg.batch_size : (k + 1) * cfg.batch_size].to(device)

        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(train_x[batch]), train_y[batch])
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        step += 1

        if step % 8 == 0 or step == args.max_steps:
            print(f"[{step:>4}] loss={loss.item():.4f} grad_norm={grad_norm.item():.3f} val_acc={evaluate():.3f}")

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "cpu_rng": torch.get_rng_state(), "step": step}, path)


if __name__ == "__main__":
    main()
