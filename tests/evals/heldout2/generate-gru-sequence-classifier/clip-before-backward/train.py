"""GRU sequence classifier on synthetic token sequences; Adam with gradient-norm clipping at 1.0, exact resume."""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, SEQ_LEN, N_CLASSES = 16, 8, 4


class GRUClassifier(nn.Module):
    def __init__(self, vocab: int = VOCAB, embed_dim: int = 16, hidden: int = 32, p_drop: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.dropout = nn.Dropout(p_drop)
        self.head = nn.Linear(hidden, N_CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        emb = self.embed(tokens)  # (B, T) -> (B, T, embed_dim)
        _, h_n = self.gru(emb)  # h_n: (num_layers=1, B, hidden)
        return self.head(self.dropout(h_n[-1]))  # (B, hidden) -> (B, N_CLASSES)


def make_sequences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Label = quarter of the vocabulary holding the sequence's most common token (ties: smallest token)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (n, SEQ_LEN), generator=g)  # (n, T)
    counts = F.one_hot(tokens, VOCAB).sum(dim=1)  # (n, VOCAB)
    labels = counts.argmax(dim=1) // (VOCAB // N_CLASSES)  # (n,)
    return tokens, labels


@torch.no_grad()
def evaluate(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor, device: torch.device) -> tuple[float, float]:
    model.eval()
    logits = model(tokens.to(device))  # (N, N_CLASSES)
    labels = labels.to(device)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(dim=1) == labels).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, default=Path("out"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--synthetic-data", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.output_dir / "checkpoint.pt"

    x_train, y_train = make_sequences(512, seed=args.seed)
    x_val, y_val = make_sequences(128, seed=args.seed + 1)
    model = GRUClassifier().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    order = torch.Generator().manual_seed(args.seed)

    step = 0
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        order.set_state(state["epoch_rng"])
        torch.set_rng_state(state["torch_rng"])

    batches_per_epoch = len(x_train) // args.batch_size
    epoch_rng = order.get_state()
    perm = torch.randperm(len(x_train), generator=order)
    while step < args.max_steps:
        if step > 0 and step % batches_per_epoch == 0:
            epoch_rng = order.get_state()
            perm = torch.randperm(len(x_train), generator=order)
        model.train()
        i = step % batches_per_epoch
        idx = perm[i * args.batch_size : (i + 1) * args.batch_size]
        xb, yb = x_train[idx].to(device), y_train[idx].to(device)  # (B, T), (B,)

        optimizer.zero_grad(set_to_none=True)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        step += 1

        if step % 8 == 0 or step == args.max_steps:
            val_loss, val_acc = evaluate(model, x_val, y_val, device)
            print(f"step {step} loss {loss.item():.4f} val_loss {val_loss:.4f} val_acc {val_acc:.3f}")

    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "epoch_rng": epoch_rng,
            "torch_rng": torch.get_rng_state(),
        },
        ckpt_path,
    )


if __name__ == "__main__":
    main()
