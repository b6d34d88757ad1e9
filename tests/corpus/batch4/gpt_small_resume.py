"""Train a small GPT on tokenised shards with fp16 autocast; resumable."""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from model import GPT, GPTConfig  # local module


def get_batch(data, block_size, batch_size, device):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


@torch.no_grad()
def estimate_loss(model, data, args, device, iters=50):
    model.eval()
    losses = torch.zeros(iters)
    for k in range(iters):
        x, y = get_batch(data, args.block_size, args.batch_size, device)
        with torch.autocast("cuda", dtype=torch.float16):
            logits = model(x)
            losses[k] = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1)).item()
    model.train()
    return losses.mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="data/owt")
    ap.add_argument("--out-dir", default="out")
    ap.add_argument("--block-size", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-iters", type=int, default=60000)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(1337)
    device = "cuda"
    train_data = np.memmap(os.path.join(args.data_dir, "train.bin"), dtype=np.uint16, mode="r")
    val_data = np.memmap(os.path.join(args.data_dir, "val.bin"), dtype=np.uint16, mode="r")

    model = GPT(GPTConfig(block_size=args.block_size, n_layer=8, n_head=8, n_embd=512)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.max_iters)
    scaler = torch.amp.GradScaler("cuda")
    ckpt_path = os.path.join(args.out_dir, "ckpt.pt")

    start_iter = 0
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_iter = ckpt["iter"] + 1
        print(f"resumed from iter {ckpt['iter']}")

    model.train()
    for it in range(start_iter, args.max_iters):
        x, y = get_batch(train_data, args.block_size, args.batch_size, device)
        with torch.autocast("cuda", dtype=torch.float16):
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()

        if it % args.eval_every == 0 and it > 0:
            val_loss = estimate_loss(model, val_data, args, device)
            print(f"iter {it}: train {loss.item():.4f} val {val_loss:.4f}")
            os.makedirs(args.out_dir, exist_ok=True)
            torch.save({
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "iter": it,
            }, ckpt_path)


if __name__ == "__main__":
    main()
