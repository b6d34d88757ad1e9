"""DistributedDataParallel with a DistributedSampler and `set_epoch`, metrics all-reduced (2 gloo processes on CPU).

`world_size` processes (gloo on CPU; NCCL, one GPU each, where there are enough GPUs), a DistributedSampler with
`set_epoch` every epoch so each epoch has a new shuffle, identical initial weights from one seed, metrics reduced
across ranks as sums and counts (the logged training loss is the global batch's, the validation accuracy the
whole split's, never an average of per-rank averages), rank 0 alone reporting and writing checkpoints.

`train()` runs in the launching process (`harness.spawn_ranks`: spawns the ranks, relays rank 0's progress and
returns its result). `run_rank()` is what every rank executes, top to bottom. Under torchrun:

    torchrun --standalone --nproc-per-node 2 -m pytorch_patterns.reference_impls.impls.ddp_cpu
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run, spawn_ranks
from pytorch_patterns.skill.generate.choices import param_groups


class Config(TrainConfig):
    world_size: int = 2
    n_train: int = 4096
    n_val: int = 1024
    n_features: int = 20
    n_classes: int = 4
    hidden: int = 128
    batch_size: int = 64  # per rank; the global batch is batch_size * world_size
    lr: float = 3e-3
    weight_decay: float = 0.01
    steps: int = 60


@dataclass
class TabularData:
    x_train: torch.Tensor  # (N_train, F)
    y_train: torch.Tensor  # (N_train,)
    x_val: torch.Tensor  # (N_val, F)
    y_val: torch.Tensor  # (N_val,)


def build_data(cfg: Config) -> TabularData:
    g = torch.Generator().manual_seed(cfg.seed + 1)  # every rank builds the same data
    n = cfg.n_train + cfg.n_val
    teacher = torch.randn(cfg.n_features, cfg.n_classes, generator=g)  # (F, C)
    x = torch.randn(n, cfg.n_features, generator=g)  # (N, F)
    y = (x @ teacher).argmax(dim=1)  # (N, C) -> (N,)
    return TabularData(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:])


def build_model(cfg: Config) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cfg.n_features, cfg.hidden), nn.ReLU(),  # (B, F) -> (B, H)
        nn.Linear(cfg.hidden, cfg.n_classes),  # (B, H) -> (B, C)
    )


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # Decay the weight matrices only (skill/generate/choices.py: no decay for biases, norms, embeddings).
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Validation accuracy over the whole split: each rank scores its own shard, then sums and counts are
    all-reduced, so the result is exact whatever the shard sizes (a mean of per-rank accuracies would not be)."""
    model.eval()
    rank, world_size = dist.get_rank(), dist.get_world_size()
    # Disjoint strided shards, every sample once: DistributedSampler would pad with repeated samples instead.
    shard = common.InMemoryDataset(data.x_val[rank::world_size], data.y_val[rank::world_size])
    loader = DataLoader(shard, batch_size=1024, collate_fn=common.keep_batch, pin_memory=device.type == "cuda")
    totals = torch.zeros(2, dtype=torch.long, device=device)  # [correct, count] on this rank
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B,)
        with common.autocast(device, cfg.amp):
            logits = model(xb)  # (B, C)
        totals += torch.stack([(logits.argmax(dim=1) == yb).sum(), torch.tensor(yb.numel(), device=device)])
    dist.all_reduce(totals)  # SUM over ranks: [correct, count] of the whole split
    correct, count = totals.tolist()
    return correct / count


def global_step_losses(rows: torch.Tensor) -> torch.Tensor:
    """(k, 2) per-step [loss sum, sample count] of this rank -> (k,) per-step mean losses of the global batch.
    One all_reduce per log point (not per step), of sums and counts: exact even for unequal shards."""
    dist.all_reduce(rows)
    return rows[:, 0] / rows[:, 1]


def rank_device(cfg: Config, rank: int) -> torch.device:
    """One GPU per rank when there are enough GPUs, else CPU (gloo). MPS has no DDP backend."""
    wants_cuda = cfg.device in ("auto", "cuda") and torch.cuda.is_available()
    if wants_cuda and torch.cuda.device_count() >= cfg.world_size:
        return torch.device("cuda", rank % torch.cuda.device_count())
    if cfg.device == "cuda":
        raise RuntimeError(f"DDP on cuda needs {cfg.world_size} GPUs, found {torch.cuda.device_count()}")
    return torch.device("cpu")


def run_device(cfg: Config) -> torch.device:
    """Where the run trains, as the runner reports it: rank 0's device (every rank uses the same kind)."""
    return rank_device(cfg, 0)


def run_rank(rank: int, cfg: Config, hooks: TrainHooks, init_method: str) -> TrainResult:
    """One rank: join the process group, train, leave. `init_method`: file:// (spawned) or env:// (torchrun)."""
    device = rank_device(cfg, rank)
    if device.type == "cpu":
        # The ranks share the machine's cores; oversubscribed threads thrash.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // cfg.world_size))
    else:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=init_method, rank=rank,
                            world_size=cfg.world_size, timeout=datetime.timedelta(seconds=120))
    try:
        return train_rank(cfg, hooks, device)
    finally:
        dist.destroy_process_group()


def train_rank(cfg: Config, hooks: TrainHooks, device: torch.device) -> TrainResult:
    # The same seed on every rank: identical initial weights. The logged losses are the global batch's.
    run = Run(cfg, hooks, device=device, reduce_losses=global_step_losses)
    rank = dist.get_rank()

    data = build_data(cfg)  # every rank builds the same data
    train_set = common.InMemoryDataset(data.x_train, data.y_train)
    # Each rank sees a disjoint 1/world_size shard; the shuffle depends on (seed, epoch) only.
    sampler = DistributedSampler(train_set, num_replicas=cfg.world_size, rank=rank, shuffle=True, seed=cfg.seed,
                                 drop_last=True)  # equal shards: every rank runs the same number of steps
    loader = DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
        collate_fn=common.keep_batch,  # __getitems__ already returns the (x, y) batch
        num_workers=0,  # in-memory tensors: one indexing op per batch in-process
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # calls sampler.set_epoch(epoch) at every epoch start

    model = build_model(cfg).to(device)
    ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    # Every rank loads the same checkpoint and restores its own RNG state; rank 0 alone writes it.
    run.track(model=ddp_model, optimizer=optimizer, scheduler=scheduler, loader=batches)

    ddp_model.train()
    for _ in run.steps():
        xb, yb = batches.next_batch()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B,) this rank's
        logits = ddp_model(xb)  # (B, C)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) gradients across ranks during backward
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)  # same averaged grads on every rank
        optimizer.step()
        scheduler.step()
        run.record(loss, items=xb.shape[0] * cfg.world_size, count=yb.numel())

    # Every rank evaluates its shard of the plain module (identical weights); the sums are all-reduced.
    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_accuracy", unit="samples/s")


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    """Spawn the ranks, relay rank 0's progress to `hooks.on_log`, return rank 0's result."""
    if cfg.amp not in ("none", "auto") or cfg.compile:
        raise ValueError("the DDP reference runs in fp32 without torch.compile (see mixed_precision, compiled_mlp)")
    return spawn_ranks(run_rank, cfg.model_copy(update={"amp": "none"}), hooks, cfg.world_size)


if __name__ == "__main__":
    if "RANK" in os.environ:  # under torchrun: this process is one rank
        world_size = int(os.environ["WORLD_SIZE"])
        result = run_rank(int(os.environ["RANK"]), Config(world_size=world_size),
                          TrainHooks(on_log=lambda step, steps, loss: print(f"step {step}/{steps} loss {loss:.4f}")),
                          "env://")
        if int(os.environ["RANK"]) == 0:
            print(result.model_dump_json(indent=2))
    else:
        print(train(Config()).model_dump_json(indent=2))
