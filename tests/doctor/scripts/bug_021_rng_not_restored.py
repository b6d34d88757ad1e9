# doctor-expect: PT-RUN021
# doctor-args: --ckpt-name bug_021_rng_not_restored.pt
# doctor-options: --resume-args '--resume'
# doctor-bug: the checkpoint holds model, optimizer and step but not the RNG state that draws the batches, and main() re-seeds with the same seed on resume: the resumed run replays the batches of steps 1.. instead of continuing, so its losses differ from the uninterrupted run
"""Step-based trainer (random batch sampling) with a resumable checkpoint."""
import argparse
import os
import tempfile
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class State:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0

    def save(self, path):
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "step": self.step}, path)

    def load(self, path):
        ckpt = torch.load(path)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step = ckpt["step"]


def sample_batch(x, y, bs=24):
    idx = torch.randint(0, len(x), (bs,))
    return x[idx], y[idx]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--ckpt-name", default="bug_021_rng_not_restored.pt")
    args = ap.parse_args()
    path = os.path.join(tempfile.gettempdir(), args.ckpt_name)
    torch.set_num_threads(1)
    data_gen = torch.Generator().manual_seed(5)
    x = torch.randn(400, 6, generator=data_gen)
    y = (x[:, 0] - x[:, 2] > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    state = State(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    if args.resume and os.path.exists(path):
        state.load(path)
    while state.step < args.max_steps:
        xb, yb = sample_batch(x, y)
        loss = nn.functional.cross_entropy(model(xb), yb)
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        state.step += 1
        state.save(path)
        if state.step % 10 == 0:
            print(f"step {state.step} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
