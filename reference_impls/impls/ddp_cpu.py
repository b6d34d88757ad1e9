"""DistributedDataParallel with a DistributedSampler and `set_epoch` (2 gloo processes on CPU).

`world_size` processes (gloo on CPU; NCCL, one GPU each, where there are enough GPUs), a DistributedSampler with
`set_epoch` every epoch so each epoch has a new shuffle, rank 0 alone writing checkpoints and evaluating,
barriers around the checkpoint.

`train()` runs in the launching process: it spawns the ranks, forwards rank 0's progress, and returns rank 0's
result. `run_rank()` is what every rank executes, top to bottom.
"""

from __future__ import annotations

import datetime
import os
import queue
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult


class Config(TrainConfig):
    world_size: int = 2
    n_train: int = 4096
    n_val: int = 1024
    n_features: int = 20
    n_classes: int = 4
    hidden: int = 128
    batch_size: int = 64  # per rank; the global batch is batch_size * world_size
    lr: float = 3e-3
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


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Validation accuracy of the plain (unwrapped) module; run on rank 0 only."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, data.x_val.shape[0], 1024):
        xb = data.x_val[start:start + 1024].to(device)  # (B, F)
        yb = data.y_val[start:start + 1024].to(device)  # (B,)
        correct += (model(xb).argmax(dim=1) == yb).sum()
    return correct.item() / data.x_val.shape[0]


def rank_device(cfg: Config, rank: int) -> torch.device:
    """One GPU per rank when there are enough GPUs, else CPU (gloo). MPS has no DDP backend."""
    wants_cuda = cfg.device in ("auto", "cuda") and torch.cuda.is_available()
    if wants_cuda and torch.cuda.device_count() >= cfg.world_size:
        return torch.device("cuda", rank)
    if cfg.device == "cuda":
        raise RuntimeError(f"DDP on cuda needs {cfg.world_size} GPUs, found {torch.cuda.device_count()}")
    return torch.device("cpu")


def run_device(cfg: Config) -> torch.device:
    """Where the run trains, as the runner reports it: rank 0's device (every rank uses the same kind)."""
    return rank_device(cfg, 0)


def run_rank(rank: int, cfg: Config, hooks: TrainHooks, log_queue: mp.Queue) -> None:
    device = rank_device(cfg, rank)
    common.seed_everything(cfg.seed)  # the same seed on every rank: identical initial weights

    data = build_data(cfg)
    train_set = TensorDataset(data.x_train, data.y_train)
    # Each rank sees a disjoint 1/world_size shard; the shuffle depends on (seed, epoch) only.
    sampler = DistributedSampler(train_set, num_replicas=cfg.world_size, rank=rank, shuffle=True, seed=cfg.seed,
                                 drop_last=True)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, drop_last=True, num_workers=0,
                        pin_memory=device.type == "cuda")
    batches = common.LoaderCursor(loader)  # calls sampler.set_epoch(epoch) at every epoch start

    model = build_model(cfg).to(device)
    ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(ddp_model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)

    start_step = 0
    if hooks.resume:
        # Every rank loads the same file; each restores its own RNG state from the per-rank list.
        ckpt = common.load_checkpoint(hooks.checkpoint_path, model=ddp_model, optimizer=optimizer,
                                      scheduler=scheduler, scaler=None, device=device, restore_rng=False)
        common.restore_rng_state(ckpt["rng"][rank])
        batches.load_state_dict(ckpt["loader"])
        start_step = ckpt["step"]
    end_step = cfg.steps if hooks.stop_at is None else min(cfg.steps, hooks.stop_at)

    loss_history: list[torch.Tensor] = []
    clock = common.TrainClock(device, compiling=False)
    ddp_model.train()
    clock.start()
    for step in range(start_step, end_step):
        xb, yb = batches.next_batch()  # (B, F), (B,) this rank's shard
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        logits = ddp_model(xb)  # (B, C)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) gradients across ranks during backward
        optimizer.step()
        scheduler.step()

        loss_history.append(loss.detach())
        clock.step_done(xb.shape[0] * cfg.world_size)
        if rank == 0 and (step + 1) % cfg.log_every == 0:
            log_queue.put(("log", step + 1, cfg.steps, loss.item()))
    clock.stop()

    if hooks.checkpoint_path is not None:
        rng_per_rank: list = [None] * cfg.world_size
        dist.all_gather_object(rng_per_rank, common.capture_rng_state())
        if rank == 0:
            common.save_checkpoint(hooks.checkpoint_path, model=ddp_model, optimizer=optimizer, scheduler=scheduler,
                                   scaler=None, step=end_step, loader_state=batches.state_dict(), cfg=cfg,
                                   rng_state=rng_per_rank)
        dist.barrier()  # nobody moves on (or exits) before the file exists

    if rank == 0:
        paused = end_step < cfg.steps
        eval_timer = common.Timer(device)
        metric = None
        if not paused:
            with eval_timer:
                metric = evaluate(model, data, cfg, device)
        result = TrainResult(
            start_step=start_step, steps_run=end_step - start_step, losses=common.losses_to_floats(loss_history),
            metric_name="val_accuracy", eval_metric=metric, throughput_unit="samples/s",
            items_processed=clock.items, train_s=clock.train_s, compile_s=0.0, eval_s=eval_timer.seconds,
            device=f"{device} x{cfg.world_size}", amp="none", paused=paused,
        )
        log_queue.put(("result", result.model_dump_json()))


def _rank_entry(rank: int, cfg_json: str, hooks_state: dict, init_file: str, log_queue: mp.Queue) -> None:
    cfg = Config.model_validate_json(cfg_json)
    hooks = TrainHooks(**hooks_state)
    device = rank_device(cfg, rank)
    if device.type == "cpu":
        # The ranks share the machine's cores; oversubscribed threads thrash.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // cfg.world_size))
    else:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=f"file://{init_file}",
                            rank=rank, world_size=cfg.world_size, timeout=datetime.timedelta(seconds=120))
    try:
        run_rank(rank, cfg, hooks, log_queue)
    finally:
        dist.destroy_process_group()


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    """Spawn the ranks, relay rank 0's progress to `hooks.on_log`, return rank 0's result."""
    hooks = hooks or TrainHooks()
    if cfg.amp not in ("none", "auto") or cfg.compile:
        raise ValueError("the DDP reference runs in fp32 without torch.compile (see mixed_precision, compiled_mlp)")
    hooks_state = {"checkpoint_path": hooks.checkpoint_path, "stop_at": hooks.stop_at, "resume": hooks.resume}
    # forkserver: a server process imports torch once and forks every rank from it, so repeated launches
    # (determinism and resume checks) skip the multi-second imports; no CUDA/OpenMP state is inherited via fork.
    mp_context = mp.get_context("forkserver")
    mp_context.set_forkserver_preload(["torch", "torch._dynamo", __name__])  # optimizers import _dynamo
    log_queue = mp_context.Queue()
    result_json = None
    with tempfile.TemporaryDirectory(prefix="ddp-") as tmp:
        init_file = str(Path(tmp) / "rendezvous")  # a FileStore rendezvous: no TCP port to collide on
        context = mp.start_processes(_rank_entry, args=(cfg.model_dump_json(), hooks_state, init_file, log_queue),
                                     nprocs=cfg.world_size, join=False, start_method="forkserver")
        done = False
        while not done:
            done = context.join(timeout=0.1)  # raises if a rank failed
            while True:
                try:
                    message = log_queue.get_nowait()
                except queue.Empty:
                    break
                if message[0] == "log" and hooks.on_log is not None:
                    hooks.on_log(*message[1:])
                elif message[0] == "result":
                    result_json = message[1]
    if result_json is None:
        raise RuntimeError("rank 0 finished without a result")
    return TrainResult.model_validate_json(result_json)


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
