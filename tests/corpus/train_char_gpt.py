"""Train a character-level GPT on a text file (nanoGPT-like single-GPU script)."""
import os
import time

import numpy as np
import torch

from gpt_model import GPT, GPTConfig

out_dir = "out-shakespeare-char"
eval_interval = 250
eval_iters = 200
log_interval = 10
init_from = "scratch"  # or "resume"
batch_size = 64
block_size = 256
learning_rate = 1e-3
max_iters = 5000
seed = 1337

torch.manual_seed(seed)
device = "cuda" if torch.cuda.is_available() else "cpu"
data_dir = os.path.join("data", "shakespeare_char")
train_data = np.memmap(os.path.join(data_dir, "train.bin"), dtype=np.uint16, mode="r")
val_data = np.memmap(os.path.join(data_dir, "val.bin"), dtype=np.uint16, mode="r")
data_gen = torch.Generator().manual_seed(seed)


def get_batch(split):
    data = train_data if split == "train" else val_data
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=data_gen)
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])  # (B, T)
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])
    if device == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


def estimate_loss(model):
    model.eval()
    losses = torch.zeros(eval_iters)
    for k in range(eval_iters):
        X, Y = get_batch("val")
        _, loss = model(X, Y)
        losses[k] = loss.item()
    model.train()
    return losses.mean()


model_args = dict(n_layer=6, n_head=6, n_embd=384, block_size=block_size, vocab_size=65, dropout=0.2)
iter_num = 0
best_val_loss = 1e9
if init_from == "resume":
    checkpoint = torch.load(os.path.join(out_dir, "ckpt.pt"))
    model_args = checkpoint["model_args"]
    model = GPT(GPTConfig(**model_args))
    model.load_state_dict(checkpoint["model"])
    iter_num = checkpoint["iter_num"]
    best_val_loss = checkpoint["best_val_loss"]
else:
    model = GPT(GPTConfig(**model_args))
model.to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.99))
if init_from == "resume":
    optimizer.load_state_dict(checkpoint["optimizer"])

X, Y = get_batch("train")
t0 = time.time()
while iter_num < max_iters:
    if iter_num % eval_interval == 0:
        val_loss = estimate_loss(model)
        print(f"step {iter_num}: val loss {val_loss:.4f}")
        if val_loss < best_val_loss:
            best_val_loss = val_loss
            ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "model_args": model_args,
                    "iter_num": iter_num, "best_val_loss": best_val_loss}
            torch.save(ckpt, os.path.join(out_dir, "ckpt.pt"))
    with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=device == "cuda"):
        logits, loss = model(X, Y)
    X, Y = get_batch("train")  # prefetch the next batch while the GPU works
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if iter_num % log_interval == 0:
        dt = time.time() - t0
        t0 = time.time()
        print(f"iter {iter_num}: loss {loss.item():.4f}, time {dt * 1000:.2f}ms")
    iter_num += 1
