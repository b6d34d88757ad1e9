"""Train the given MLP on the given synthetic data with a DataLoader, evaluating every 8 steps.

Exact resume: the loader's generator state at the start of the current epoch is checkpointed, so the
resumed run rebuilds the same shuffled epoch and skips the batches already consumed.
"""

import argparse
import itertools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from data import make_data
from model import MLP


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-data", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("checkpoints"))
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ckpt_file = args.output_dir / "resume.pt"

    train_set = TensorDataset(*make_data(512, 16, 4, args.seed))
    x_val, y_val = (t.to(device) for t in make_data(128, 16, 4, args.seed + 1))
    shuffle = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=shuffle, drop_last=True,
                        pin_memory=device.type == "cuda", num_workers=0)

    model = MLP(16, 4).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    step = 0
    if args.resume:
        ckpt = torch.load(ckpt_file, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step = ckpt["step"]
        shuffle.set_state(ckpt["epoch_start_shuffle_state"])
        torch.set_rng_state(ckpt["torch_rng_state"])

    done = False
    while not done:
        epoch_start_shuffle_state = shuffle.get_state()
        skip = step % len(loader)  # batches of this epoch already trained on before a resume
        for xb, yb in itertools.islice(loader, skip, None):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (64, 16), (64,)
            model.train()
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            step += 1
            if step % 8 == 0 or step == args.max_steps:
                model.eval()
                with torch.inference_mode():
                    acc = (model(x_val).argmax(dim=1) == y_val).float().mean().item()
                print(f"step {step} loss {loss.item():.4f} val_acc {acc:.3f}")
            if step >= args.max_steps:
                done = True
                break

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "epoch_start_shuffle_state": epoch_start_shuffle_state, "torch_rng_state": torch.get_rng_state()},
               ckpt_file)


if __name__ == "__main__":
    main()
