"""Dropout MLP classifier on synthetic tabular data, driven by a small Trainer class with exact resume.

Each epoch's shuffling comes from its own generator seeded with (seed, epoch), so a resumed run rebuilds
the order from the step count alone; the dropout RNG travels in the checkpoint.
"""

import argparse
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

N_FEATURES, N_CLASSES = 16, 4


class Classifier(nn.Module):
    def __init__(self, hidden: int = 48) -> None:
        super().__init__()
        self.fc1 = nn.Linear(N_FEATURES, hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.relu(self.fc1(x)))  # (B, hidden)
        return self.fc2(h)  # (B, N_CLASSES) logits


def teacher_dataset(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    weights = torch.randn(N_FEATURES, N_CLASSES, generator=torch.Generator().manual_seed(7))
    features = torch.randn(n, N_FEATURES, generator=torch.Generator().manual_seed(seed))  # (n, F)
    return features, (features @ weights).argmax(dim=1)  # (n, F), (n,)


class Trainer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.model = Classifier().to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.train_x, self.train_y = teacher_dataset(512, args.seed)
        self.val_x, self.val_y = teacher_dataset(128, args.seed + 100)
        self.step = 0

    def epoch_order(self, epoch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.args.seed * 10_007 + epoch)
        return torch.randperm(len(self.train_x), generator=gen)

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @torch.inference_mode()
    def validate(self) -> float:
        self.model.eval()
        logits = self.model(self.val_x.to(self.device))  # (128, N_CLASSES)
        return (logits.argmax(dim=1) == self.val_y.to(self.device)).float().mean().item()

    def save(self, path: Path) -> None:
        torch.save({"model": self.model.state_dict(), "optim": self.optimizer.state_dict(), "step": self.step,
                    "cpu_rng": torch.get_rng_state()}, path)

    def load(self, path: Path) -> None:
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optim"])
        self.step = ckpt["step"]
        torch.set_rng_state(ckpt["cpu_rng"])

    def fit(self) -> None:
        bs = self.args.batch_size
        per_epoch = len(self.train_x) // bs
        while self.step < self.args.max_steps:
            epoch, pos = divmod(self.step, per_epoch)
            idx = self.epoch_order(epoch)[pos * bs : (pos + 1) * bs]
            loss = self.train_step(self.train_x[idx].to(self.device), self.train_y[idx].to(self.device))
            self.step += 1
            if self.step % 8 == 0 or self.step == self.args.max_steps:
                print(f"step {self.step:3d}  loss {loss.item():.4f}  val_acc {self.validate():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output-dir", type=Path, default=Path("runs"))
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ckpt = args.output_dir / "state.pt"
    trainer = Trainer(args)
    if args.resume:
        trainer.load(ckpt)
    trainer.fit()
    trainer.save(ckpt)


if __name__ == "__main__":
    main()
