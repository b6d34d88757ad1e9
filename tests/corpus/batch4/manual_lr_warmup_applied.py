"""Transformer LM pretraining loop with a hand-written warmup + cosine schedule (nanoGPT style)."""
import math
import os

import numpy as np
import torch

from model import GPT, GPTConfig  # local

BATCH, BLOCK = 12, 1024
MAX_LR, MIN_LR = 6e-4, 6e-5
WARMUP, MAX_ITERS = 2000, 600000
GRAD_ACCUM = 40
EVAL_EVERY = 2000

torch.manual_seed(1337)
device = "cuda" if torch.cuda.is_available() else "cpu"
data_dir = os.path.join("data", "openwebtext")


def get_batch(split):
    data = np.memmap(os.path.join(data_dir, f"{split}.bin"), dtype=np.uint16, mode="r")
    ix = torch.randint(len(data) - BLOCK, (BATCH,))
    x = torch.stack([torch.from_numpy(data[i:i + BLOCK].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + BLOCK].astype(np.int64)) for i in ix])
    return x.to(device), y.to(device)


def get_lr(it):
    if it < WARMUP:
        return MAX_LR * (it + 1) / (WARMUP + 1)
    if it > MAX_ITERS:
        return MIN_LR
    ratio = (it - WARMUP) / (MAX_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (MAX_LR - MIN_LR)


@torch.no_grad()
def estimate_loss(model, iters=200):
    out = {}
    model.eval()
    for split in ("train", "val"):
        losses = torch.zeros(iters)
        for k in range(iters):
            x, y = get_batch(split)
            _, loss = model(x, y)
            losses[k] = loss.item()
        out[split] = losses.mean().item()
    model.train()
    return out


model = GPT(GPTConfig(block_size=BLOCK)).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LR, betas=(0.9, 0.95), weight_decay=0.1)

x, y = get_batch("train")
for it in range(MAX_ITERS):
    lr = get_lr(it)
    for group in optimizer.param_groups:
        group["lr"] = lr
    if it % EVAL_EVERY == 0:
        losses = estimate_loss(model)
        print(f"iter {it}: train {losses['train']:.4f} val {losses['val']:.4f} lr {lr:.2e}")
    for micro in range(GRAD_ACCUM):
        _, loss = model(x, y)
        loss = loss / GRAD_ACCUM
        x, y = get_batch("train")
        loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
