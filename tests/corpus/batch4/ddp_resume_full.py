"""DDP training with full resume: model, optimizer, scheduler, scaler, RNG and epoch."""
import argparse
import os
import random

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from project.data import VideoClips
from project.nets import R2Plus1D


def save_ckpt(path, epoch, model, optimizer, scheduler, scaler):
    torch.save({
        "epoch": epoch,
        "model": model.module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all()},
    }, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="/datasets/kinetics_clips")
    ap.add_argument("--epochs", type=int, default=45)
    ap.add_argument("--ckpt", default="ckpt/last.pt")
    args = ap.parse_args()

    dist.init_process_group("nccl")
    rank, local = dist.get_rank(), int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    random.seed(rank)
    np.random.seed(rank)
    torch.manual_seed(rank)

    ds = VideoClips(args.root, "train", frames=16)
    sampler = DistributedSampler(ds, shuffle=True)
    loader = DataLoader(ds, batch_size=8, sampler=sampler, num_workers=10, pin_memory=True, drop_last=True)
    model = DDP(R2Plus1D(num_classes=400).cuda(), device_ids=[local])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.04, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = torch.amp.GradScaler("cuda")

    start_epoch = 0
    if os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt, map_location=f"cuda:{local}", weights_only=True)
        model.module.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        torch.set_rng_state(ck["rng"]["torch"].cpu())
        torch.cuda.set_rng_state_all([s.cpu() for s in ck["rng"]["cuda"]])
        start_epoch = ck["epoch"] + 1

    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        for clips, labels in loader:
            clips, labels = clips.cuda(non_blocking=True), labels.cuda(non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = F.cross_entropy(model(clips), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        scheduler.step()
        if rank == 0:
            os.makedirs(os.path.dirname(args.ckpt), exist_ok=True)
            save_ckpt(args.ckpt, epoch, model, optimizer, scheduler, scaler)
            print(f"epoch {epoch} done, loss {loss.item():.4f}")
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
