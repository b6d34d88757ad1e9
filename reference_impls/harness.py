"""The runner's side of a training program: everything in `train()` that is not training.

A reference program calls it in five places and otherwise reads like any training script:

    run = Run(cfg, hooks)                      # seeds; run.device, run.amp ('none'/'bf16'/'fp16'), run.autocast()
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)
    for step in run.steps():                   # steps start..stop (resume / pause points), timed
        ...                                    # the program's own step
        run.record(loss, items=x.shape[0])     # loss stays on the device; progress every cfg.log_every steps
    return run.finish(lambda: evaluate(model, data, cfg, run.device), metric="val_accuracy", unit="samples/s")

What it owns: seeding, device and precision resolution, the timing split (compile / steady steps / evaluation),
the loss history (one host sync per log line, not per step), progress callbacks, the full checkpoint (written
at the end of the call, read by `track` when resuming; loader and extra state included), the pause point of a
resume check, and the `TrainResult`. Under `torch.distributed` (initialised before `Run` is made) it also keeps
one RNG state per rank in the checkpoint, lets rank 0 alone write it, and sends only rank 0's progress;
`spawn_ranks` is the launcher side of a multi-process program.
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult

Reducer = Callable[[torch.Tensor], torch.Tensor]


class Run:
    """One call of a program's `train()` as the runner steers it (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, hooks: TrainHooks | None = None, *, device: torch.device | None = None,
                 reduce_losses: Reducer | None = None) -> None:
        """`reduce_losses`: for multi-process runs, maps (k, 2) rows of per-step [loss sum, count] of this rank
        to the (k,) global per-step mean losses (one all_reduce per log point); None = the losses are local."""
        self.cfg = cfg
        self.hooks = hooks or TrainHooks()
        self.distributed = distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if distributed else 0
        self.world_size = dist.get_world_size() if distributed else 1
        common.seed_everything(cfg.seed)
        self.device = device if device is not None else common.pick_device(cfg.device)
        self.amp = common.resolve_amp(self.device, cfg.amp)
        self.amp_dtype = common.AMP_DTYPES[self.amp]
        self.start_step = 0
        self.step = 0  # optimizer steps completed (counted by record)
        self.stop_step = cfg.steps if self.hooks.stop_at is None else min(cfg.steps, self.hooks.stop_at)
        self._reduce = reduce_losses
        self._pending: list[torch.Tensor] = []  # this call's losses (or [sum, count] rows), still on the device
        self._losses: list[float] = []  # reduced to floats at log points
        self._state: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self._clock = common.TrainClock(self.device, compiling=cfg.compile)
        self._clock_running = False

    def autocast(self) -> torch.autocast:
        """The run's autocast context (a no-op for amp='none'); used for training and evaluation alike."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    # ------------------------------------------------------------ checkpointed state

    def track(self, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any | None = None,
              scaler: torch.amp.GradScaler | None = None, loader: Any | None = None,
              extra: dict[str, Any] | None = None) -> None:
        """Name what the checkpoint holds; when resuming, load it now. `loader` and every value of `extra` need
        `state_dict()` / `load_state_dict()` (the program's own early-stopping state, for example)."""
        self._state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler,
                       "loader": loader}
        self._extra = dict(extra or {})
        if not self.hooks.resume:
            self.step = self.start_step
            return
        ckpt = common.load_checkpoint(self.hooks.checkpoint_path, model=model, optimizer=optimizer,
                                      scheduler=scheduler, scaler=scaler, device=self.device,
                                      restore_rng=self.world_size == 1)
        if self.world_size > 1:
            common.restore_rng_state(ckpt["rng"][self.rank])  # each rank its own stream (dropout, augmentation)
        if loader is not None:
            loader.load_state_dict(ckpt["loader"])
        for key, obj in self._extra.items():
            obj.load_state_dict(ckpt["extra"][key])
        self.start_step = self.step = ckpt["step"]

    # ------------------------------------------------------------ the loop

    def steps(self) -> Iterator[int]:
        """The step indices this call runs (0-based), from the resumed step to cfg.steps or the pause point.
        Training time is measured from the first to the last step (the device synchronised at both ends)."""
        self._clock.start()
        self._clock_running = True
        try:
            yield from range(self.start_step, self.stop_step)
        finally:
            self._stop_clock()

    def record(self, loss: torch.Tensor, *, items: int, count: int | None = None) -> None:
        """One optimizer step done: keep its loss (no host sync), count `items` (samples or tokens) for the
        throughput, and report progress every cfg.log_every steps. `count`: the samples behind this rank's
        mean loss, for a `reduce_losses` run."""
        self.step += 1
        loss = loss.detach().float()
        if self._reduce is not None:
            n = torch.tensor(float(count if count is not None else items), device=loss.device)
            loss = torch.stack([loss * n, n])  # [loss sum, count]: global means need sums, not mean of means
        self._pending.append(loss)
        self._clock.step_done(items)
        if self.step % self.cfg.log_every == 0:
            self._flush()
            if self.hooks.on_log is not None and self.rank == 0:
                self.hooks.on_log(self.step, self.cfg.steps, self._losses[-1])

    def _flush(self) -> None:
        if not self._pending:
            return
        stacked = torch.stack(self._pending)  # (k,) or (k, 2)
        self._pending = []
        if self._reduce is not None:
            stacked = self._reduce(stacked)
        self._losses += stacked.cpu().tolist()

    def _stop_clock(self) -> None:
        if self._clock_running:
            self._clock.stop()
            self._clock_running = False

    # ------------------------------------------------------------ the end of the call

    def finish(self, evaluate: Callable[[], float], *, metric: str, unit: str, stopped: bool = False) -> TrainResult:
        """Write the checkpoint (if the runner asked for one), evaluate unless paused, and build the result.

        `stopped`: the program ended training early (early stopping): evaluate even though steps remain.
        Under torch.distributed every rank calls this (evaluation may all-reduce); rank 0 writes the file."""
        self._stop_clock()
        self._flush()
        if self.hooks.checkpoint_path is not None:
            self._save()
        paused = self.step < self.cfg.steps and not stopped
        timer = common.Timer(self.device)
        value = None
        if not paused:
            with timer:
                value = evaluate()
        device = f"{self.device} x{self.world_size}" if self.distributed else str(self.device)
        return TrainResult(
            start_step=self.start_step, steps_run=self.step - self.start_step, losses=self._losses,
            metric_name=metric, eval_metric=value, throughput_unit=unit, items_processed=self._clock.items,
            train_s=self._clock.train_s, compile_s=self._clock.compile_s, eval_s=timer.seconds, device=device,
            amp=self.amp, paused=paused,
        )

    def _save(self) -> None:
        state = self._state
        if not state:
            raise RuntimeError("Run.track(model=..., optimizer=...) must be called before finish()")
        rng: Any = common.capture_rng_state()
        if self.world_size > 1:
            per_rank: list[Any] = [None] * self.world_size
            dist.all_gather_object(per_rank, rng)
            rng = per_rank
        if self.rank == 0:
            loader = state["loader"]
            common.save_checkpoint(
                self.hooks.checkpoint_path, model=state["model"], optimizer=state["optimizer"],
                scheduler=state["scheduler"], scaler=state["scaler"], step=self.step,
                loader_state=loader.state_dict() if loader is not None else {}, cfg=self.cfg,
                extra={key: obj.state_dict() for key, obj in self._extra.items()}, rng_state=rng)
        if self.world_size > 1:
            dist.barrier()  # no rank moves on (or exits) before the file exists


# ---------------------------------------------------------------- multi-process launch


class _QueueLog:
    """A picklable on_log for rank 0: progress goes through a queue to the launching process."""

    def __init__(self, log_queue: Any) -> None:
        self.queue = log_queue

    def __call__(self, step: int, steps: int, loss: float) -> None:
        self.queue.put(("log", step, steps, loss))


def _rank_main(rank: int, fn: Callable[..., TrainResult | None], cfg: TrainConfig, hooks_state: dict,
               init_method: str, log_queue: Any) -> None:
    hooks = TrainHooks(**hooks_state, on_log=_QueueLog(log_queue) if rank == 0 else None)
    result = fn(rank, cfg, hooks, init_method)
    if rank == 0:
        if result is None:
            raise RuntimeError("rank 0 returned no TrainResult")
        log_queue.put(("result", result.model_dump_json()))


def spawn_ranks(fn: Callable[..., TrainResult | None], cfg: TrainConfig, hooks: TrainHooks | None,
                world_size: int) -> TrainResult:
    """Run `fn(rank, cfg, hooks, init_method)` in `world_size` processes; relay rank 0's progress to
    `hooks.on_log` and return rank 0's result. A rank that fails raises here.

    forkserver: a server process imports torch (and fn's module) once and forks every rank from it, so
    repeated launches (determinism and resume checks) skip the multi-second imports, and no CUDA/OpenMP state
    is inherited through fork. The rendezvous is a FileStore in a temporary folder: no TCP port to collide on.
    """
    import torch.multiprocessing as mp

    hooks = hooks or TrainHooks()
    hooks_state = {"checkpoint_path": hooks.checkpoint_path, "stop_at": hooks.stop_at, "resume": hooks.resume}
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "torch._dynamo", fn.__module__])  # optimizers import _dynamo
    log_queue = ctx.Queue()
    result_json = None
    with tempfile.TemporaryDirectory(prefix="ddp-") as tmp:
        init_method = f"file://{Path(tmp) / 'rendezvous'}"
        procs = mp.start_processes(_rank_main, args=(fn, cfg, hooks_state, init_method, log_queue),
                                   nprocs=world_size, join=False, start_method="forkserver")
        done = False
        while not done:
            done = procs.join(timeout=0.1)  # raises if a rank failed
            with contextlib.suppress(queue.Empty):
                while True:
                    message = log_queue.get_nowait()
                    if message[0] == "log" and hooks.on_log is not None:
                        hooks.on_log(*message[1:])
                    elif message[0] == "result":
                        result_json = message[1]
    if result_json is None:
        raise RuntimeError("rank 0 finished without a result")
    return TrainResult.model_validate_json(result_json)

