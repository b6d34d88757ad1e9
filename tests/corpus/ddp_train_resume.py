"""Multi-GPU DDP training launched with torchrun; resumes from the last epoch checkpoint."""
import argparse
import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler
from torch.utils.data._utils.collate import default_collate

from data import ShardedTokenDataset
from model import build_lm


def collate_drop_none(batch):
    return default_collate([b for b in batch if b is not None])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--ckpt", default="last.pt")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    dist.init_process_group("nccl")
    local_rank = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local_rank)
    torch.manual_seed(args.seed + dist.get_rank())

    dataset = ShardedTokenDataset(args.data)
    sampler = DistributedSampler(dataset, shuffle=True, seed=args.seed)
    loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=4, pin_memory=True,
                        collate_fn=collate_drop_none)
    model = build_lm().cuda(local_rank)
    start_epoch = 0
    if os.path.exists(args.ckpt):
        state = torch.load(args.ckpt, map_location=f"cuda:{local_rank}", weights_only=True)
        model.load_state_dict(state)
        start_epoch = int(os.environ.get("START_EPOCH", "0"))
    model = DDP(model, device_ids=[local_rank])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        for tokens in loader:
            tokens = tokens.cuda(local_rank, non_blocking=True)  # (B, T+1)
            logits = model(tokens[:, :-1])
            loss = criterion(logits.flatten(0, 1), tokens[:, 1:].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if dist.get_rank() == 0:
            torch.save(model.module.state_dict(), args.ckpt)
            print(f"epoch {epoch} done, checkpoint written")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
