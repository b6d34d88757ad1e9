"""Gradient accumulation: a 64-sample batch is cut into 2 chunks whose scaled losses are back-propagated
one after the other."""

import argparse
import os

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.1))
        self.out = nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))  # (B, 16) -> (B, 4)


def teacher_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(31337)
    w = torch.randn(16, 4, generator=g)
    x = torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))
    return x, (x @ w).max(dim=1).indices


class AccumulatingTrainer:
    def __init__(self, seed: int, device: torch.device, accum: int = 2, batch: int = 64) -> None:
        self.device, self.accum, self.batch = device, accum, batch
        self.model = Net().to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        self.criterion = nn.CrossEntropyLoss()
        self.loader_gen = torch.Generator().manual_seed(seed)
        self.epoch_gen_state = self.loader_gen.get_state()
        self.step = 0

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
                "epoch_gen_state": self.epoch_gen_state, "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = state["step"]
        self.loader_gen.set_state(state["epoch_gen_state"])
        torch.set_rng_state(state["torch_rng"])

    def batches(self, n: int):
        """Yield index batches from the current step on; the generator state at each epoch start is kept."""
        per_epoch = n // self.batch
        while True:
            self.epoch_gen_state = self.loader_gen.get_state()
            perm = torch.randperm(n, generator=self.loader_gen)
            for b in range(self.step % per_epoch, per_epoch):
                yield perm[b * self.batch : (b + 1) * self.batch]

    def optimizer_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model.train()
        for xc, yc in zip(x.chunk(self.accum), y.chunk(self.accum)):  # (32, 16), (32,)
            self.opt.zero_grad()
            (self.criterion(self.model(xc), yc) / self.accum).backward()
        self.opt.step()
        self.step += 1

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.model.eval()
        return (self.model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--synthetic-data", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--max-steps", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default="out")
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    os.makedirs(a.output_dir, exist_ok=True)
    path = os.path.join(a.output_dir, "trainer.pt")
    x_train, y_train = teacher_data(512, a.seed)
    x_val, y_val = teacher_data(128, a.seed + 1)
    trainer = AccumulatingTrainer(a.seed, device)
    if a.resume:
        trainer.load_state_dict(torch.load(path, map_location=device, weights_only=True))

    for idx in trainer.batches(len(x_train)):
        if trainer.step >= a.max_steps:
            break
        trainer.optimizer_step(x_train[idx].to(device), y_train[idx].to(device))
        if trainer.step % 8 == 0 or trainer.step == a.max_steps:
            print(f"step {trainer.step} val acc {trainer.accuracy(x_val.to(device), y_val.to(device)):.3f}")
    torch.save(trainer.state_dict(), path)


if __name__ == "__main__":
    main()
