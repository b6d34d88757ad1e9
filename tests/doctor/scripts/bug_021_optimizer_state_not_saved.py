# doctor-expect: PT-RUN021
# doctor-args: --ckpt-name bug_021_optimizer_state_not_saved.pt
# doctor-options: --resume-args '--resume'
# doctor-bug: save_checkpoint() stores the model weights, step and RNG state but not the AdamW state: after --resume the optimizer restarts with empty moments, so the resumed losses differ from the uninterrupted run from the second resumed step on
"""nanoGPT-style step loop (random batches from one tensor) with checkpoint / resume."""
import argparse
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F


def get_batch(data, bs=16):
    idx = torch.randint(0, len(data) - 1, (bs,))
    return data[idx, :-1], data[idx, -1]


def save_checkpoint(path, model, optimizer, step):
    torch.save({"model": model.state_dict(), "step": step, "rng": torch.get_rng_state()}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path)
    model.load_state_dict(ckpt["model"])
    torch.set_rng_state(ckpt["rng"])
    return ckpt["step"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--ckpt-name", default="bug_021_optimizer_state_not_saved.pt")
    args = ap.parse_args()
    path = os.path.join(tempfile.gettempdir(), args.ckpt_name)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    data = torch.randn(512, 9, generator=g)
    data[:, -1] = data[:, :8] @ torch.linspace(-1, 1, 8)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    start = load_checkpoint(path, model, optimizer) if args.resume and os.path.exists(path) else 0
    for step in range(start, args.max_steps):
        x, y = get_batch(data)
        loss = F.mse_loss(model(x).squeeze(1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        save_checkpoint(path, model, optimizer, step + 1)
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.5f}")


if __name__ == "__main__":
    main()
