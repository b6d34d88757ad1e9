"""Pre-train a small LM on token shards streamed by an IterableDataset (one shard per worker)."""
import glob
import math
import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from gpt_model_clean import GPT

SEQ_LEN = 512


class ShardStream(IterableDataset):
    def __init__(self, pattern, seed):
        self.shards = sorted(glob.glob(pattern))
        self.seed = seed

    def __iter__(self):
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = random.Random(self.seed + wid)
        shards = self.shards[wid::nworkers]
        rng.shuffle(shards)
        for path in shards:
            tokens = np.load(path, mmap_mode="r")
            starts = list(range(0, len(tokens) - SEQ_LEN - 1, SEQ_LEN))
            rng.shuffle(starts)
            for s in starts:
                chunk = torch.from_numpy(tokens[s:s + SEQ_LEN + 1].astype(np.int64))
                yield chunk[:-1], chunk[1:]


def cosine_lr(step, warmup=2000, total=200000, peak=6e-4, floor=6e-5):
    if step < warmup:
        return peak * step / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


if __name__ == "__main__":
    seed = int(os.environ.get("SEED", "0"))
    random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    loader = DataLoader(ShardStream("shards/train_*.npy", seed), batch_size=16, num_workers=4,
                        pin_memory=device.type == "cuda", persistent_workers=True)
    model = GPT(vocab_size=50304, block_size=SEQ_LEN).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cosine_lr(0), betas=(0.9, 0.95), weight_decay=0.1,
                                  fused=device.type == "cuda")
    amp_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model.train()
    loss_acc = torch.zeros((), device=device)
    for step, (x, y) in enumerate(loader):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=device.type == "cuda"):
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_acc += loss.detach()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: loss {loss_acc.item() / 100:.4f} lr {cosine_lr(step):.2e}")
            loss_acc.zero_()
        if (step + 1) % 10000 == 0:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step},
                       "pretrain_last.pt")
        if step + 1 >= 200000:
            break
