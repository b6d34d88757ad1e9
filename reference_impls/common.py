"""The small shared interface of the reference implementations.

Every implementation module defines, top to bottom:

    class Config(TrainConfig)            # pydantic; its defaults are the CPU smoke size
    def build_data(cfg) -> ...           # synthetic or shipped tensors, never a download
    def build_model(cfg) -> nn.Module
    def build_optimizer(cfg, model) -> Optimizer    # parameter groups from skill/generate/choices.py
    def evaluate(model, data, cfg, device) -> float
    def train(cfg, hooks=None) -> TrainResult       # the training program; reference_impls.harness.Run
                                                    # holds the runner's plumbing

and uses the helpers below for the parts that are the same everywhere: seeding, picking the device and
precision, a batch-fetching in-memory dataset with a resumable (seed, epoch) batch sampler, RNG capture, and
atomic full checkpoints. Only torch, pydantic and the standard library are imported (and the torch-free
skill.generate.choices).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from pytorch_patterns.skill.generate.choices import CHOICES

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
AmpName = Literal["auto", "none", "bf16", "fp16"]


class TrainConfig(BaseModel):
    """Options every implementation shares; subclasses add model and data sizes."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    steps: int = Field(60, ge=1)
    device: DeviceName = "auto"
    amp: AmpName = "none"
    compile: bool = False
    grad_clip: float | None = Field(CHOICES.grad_clip_norm, gt=0, description="max global gradient norm; None: off")
    log_every: int = Field(10, ge=1)


class TrainResult(BaseModel):
    """What one call of `train` did. `losses` holds one float per optimizer step run in this call."""

    start_step: int
    steps_run: int
    losses: list[float]
    metric_name: str
    eval_metric: float | None  # None when the call paused at hooks.stop_at to leave a checkpoint
    throughput_unit: Literal["samples/s", "tokens/s"]
    items_processed: int
    train_s: float
    compile_s: float
    eval_s: float
    device: str
    amp: str
    paused: bool = False  # stopped at hooks.stop_at (first half of a resume check)


@dataclass
class TrainHooks:
    """How the runner steers a training call.

    checkpoint_path: where the full checkpoint lives.
    stop_at: after this many optimizer steps save a checkpoint and return (the first half of a resume check).
    resume: load `checkpoint_path` first and continue from its step.
    on_log: called every `log_every` steps with (step, total_steps, loss).
    """

    checkpoint_path: Path | None = None
    stop_at: int | None = None
    resume: bool = False
    on_log: Callable[[int, int, float], None] | None = None


# ---------------------------------------------------------------- device, seeding, precision


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu. An explicit device that is missing is an error, not a fallback."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' requested but torch.backends.mps.is_available() is False")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python's and torch's RNGs (torch.manual_seed seeds every CUDA device too)."""
    random.seed(seed)
    torch.manual_seed(seed)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return parse_cpu_flags(text)


def parse_cpu_flags(cpuinfo_text: str) -> set[str]:
    """The flag words of /proc/cpuinfo ('flags' on x86, 'Features' on arm)."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_has_native_bf16(flags: set[str]) -> bool:
    """AVX512-BF16 / AMX-BF16 on x86, BF16 on arm. Without them a bf16 matmul is emulated (40-130x slower than fp32 on AVX2-only x86)."""
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_native_fp16(flags: set[str]) -> bool:
    return bool(flags & {"avx512_fp16", "amx_fp16", "fphp"})


def resolve_amp(device: torch.device, amp: str) -> str:
    """'auto' -> fp16 on CUDA (bf16 where the GPU has it natively), bf16 on a CPU with native bf16, else none."""
    if amp != "auto":
        return amp
    if device.type == "cuda":
        # the bare call counts emulated bf16 (V100, T4) as supported; emulated bf16 is slower than fp16
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    if device.type == "cpu" and cpu_has_native_bf16(cpu_flags()):
        return "bf16"
    return "none"


AMP_DTYPES: dict[str, torch.dtype | None] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, amp: str) -> torch.autocast:
    """The autocast context for `amp` ('auto' resolved for the device; 'none' disables it).

    Training and evaluation run under the same one (skill/generate/choices.py: eval_autocast)."""
    dtype = AMP_DTYPES[resolve_amp(device, amp)]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """torch.compile costs 12-120 s cold (2-core CPU box), so it only happens when asked for.

    The default dynamic=None recompiles once for a new shape, then treats that dimension as dynamic;
    dynamic=False would recompile per shape and fall back to eager past recompile_limit (8)."""
    return torch.compile(model) if enabled else model


def sync(device: torch.device) -> None:
    """Wait for queued device work so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class Timer:
    """Accumulates wall-clock seconds of a phase; synchronizes the device at both ends."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        sync(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        sync(self.device)
        self.seconds += time.perf_counter() - self._t0


# ---------------------------------------------------------------- data


class InMemoryDataset(Dataset):
    """A map-style dataset over in-memory tensors (first dimension = samples) that fetches a batch at a time.

    The DataLoader hands `__getitems__` the whole list of a batch's indices, so each tensor is indexed once per
    batch instead of once per item followed by a stacking collate (several times faster: the figure, with its
    machine, is in skill/docs/data-loading.md; bench/loader_fetch.py measures it). It returns the batch itself, so the loader
    needs `collate_fn=keep_batch`: the default collate would take the returned tuple of batch tensors for a list
    of samples and fail.
    """

    def __init__(self, *tensors: torch.Tensor) -> None:
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("all tensors need the same first (sample) dimension")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(indices)
        return tuple(t[idx] for t in self.tensors)


def keep_batch(batch: Any) -> Any:
    """Pass-through collate for datasets whose `__getitems__` already returns the batch."""
    return batch


class EpochBatchSampler(Sampler[list[int]]):
    """Index batches in an order fixed by (seed, epoch), able to start mid-epoch.

    Each epoch draws its permutation from a private generator seeded with seed + epoch (the DistributedSampler
    convention), so the order never depends on, or consumes, the global RNG. `set_epoch(epoch, start_batch)`
    makes the next iteration begin at batch `start_batch`: a resumed run skips the consumed batches here,
    without fetching them. `__len__` is the full epoch's batch count.
    """

    def __init__(self, num_samples: int, batch_size: int, *, seed: int, shuffle: bool, drop_last: bool) -> None:
        if drop_last and batch_size > num_samples:
            raise ValueError(f"batch_size {batch_size} exceeds the {num_samples} samples with drop_last=True")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        for i in range(self.start_batch, len(self)):
            yield order[i * self.batch_size:(i + 1) * self.batch_size].tolist()


class LoaderCursor:
    """Step-wise iteration over a DataLoader (epochs roll over) that can be checkpointed and resumed.

    Its state is (epoch, batches consumed in the epoch), counted where batches are consumed (with workers the
    sampler runs ahead). With an `EpochBatchSampler` the resumed epoch starts at the first unconsumed batch;
    with a sampler that only has `set_epoch(epoch)` (DistributedSampler) the consumed batches are fetched and
    dropped, which is cheap for in-memory data only.
    """

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.epoch = 0
        self.position = 0
        self._iter: Iterator[Any] | None = None

    def _start_epoch(self, start_batch: int = 0) -> None:
        batch_sampler, sampler = self.loader.batch_sampler, self.loader.sampler
        skip_by_sampler = isinstance(batch_sampler, EpochBatchSampler)
        if skip_by_sampler:
            batch_sampler.set_epoch(self.epoch, start_batch)
        elif hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)  # DistributedSampler: a different shuffle every epoch
        self._iter = iter(self.loader)
        if not skip_by_sampler:
            for _ in range(start_batch):
                next(self._iter)

    def next_batch(self) -> Any:
        if self._iter is None:
            self._start_epoch()
        try:
            batch = next(self._iter)
        except StopIteration:
            self.epoch += 1
            self.position = 0
            self._start_epoch()
            batch = next(self._iter)
        self.position += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.position = state["position"]
        self._start_epoch(start_batch=self.position)


# ---------------------------------------------------------------- RNG state and checkpoints


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG a training step may draw from (dropout, augmentation, python's random)."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_python_random_state(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


def _as_python_random_state(value: Any) -> tuple:
    # torch.save keeps tuples; be lenient if a list comes back.
    version, internal, gauss = value
    return (version, tuple(internal), gauss)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under torch.compile / DDP wrappers, so state_dict keys carry no prefixes."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def save_checkpoint(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any | None, scaler: torch.amp.GradScaler | None, step: int,
                    loader_state: dict[str, Any], cfg: TrainConfig, extra: dict[str, Any] | None = None,
                    rng_state: Any | None = None) -> None:
    """A full training checkpoint, written atomically (temp file + rename): a crash never leaves half a file."""
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "step": step,
        "loader": loader_state,
        "rng": rng_state if rng_state is not None else capture_rng_state(),
        "config": cfg.model_dump(),
        "extra": extra or {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any | None,
                    scaler: torch.amp.GradScaler | None, device: torch.device,
                    restore_rng: bool = True) -> dict[str, Any]:
    """Restore everything `save_checkpoint` wrote; returns the checkpoint (step, loader state, extra)."""
    state = torch.load(path, map_location=device, weights_only=True)
    unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    # RNG and generator states must be CPU ByteTensors whatever map_location did.
    state["loader"] = _rng_to_cpu(state["loader"])
    state["rng"] = _rng_to_cpu(state["rng"])
    if restore_rng:
        restore_rng_state(state["rng"])
    return state


def _rng_to_cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: _rng_to_cpu(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_rng_to_cpu(v) for v in state]
    return state


class TrainClock:
    """Splits training wall-clock into compile time (the first step of a compiled model) and steady steps.

    It synchronizes the device only at the start, after the first step when compiling, and at the end, so
    the loop itself never waits on the device.
    """

    def __init__(self, device: torch.device, *, compiling: bool) -> None:
        self.device = device
        self.compiling = compiling
        self.compile_s = 0.0
        self.train_s = 0.0
        self.items = 0  # samples or tokens processed in timed (non-compile) steps
        self._steps = 0

    def start(self) -> None:
        sync(self.device)
        self._t0 = time.perf_counter()

    def step_done(self, items: int) -> None:
        self._steps += 1
        if self.compiling and self._steps == 1:
            sync(self.device)
            now = time.perf_counter()
            self.compile_s = now - self._t0
            self._t0 = now
            return
        self.items += items

    def stop(self) -> None:
        sync(self.device)
        self.train_s = time.perf_counter() - self._t0
