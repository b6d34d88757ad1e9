"""Mixed precision with gradient accumulation and gradient clipping after `unscale_`.

amp="auto" picks fp16 + GradScaler on CUDA (bf16 where the GPU has it natively), bf16 on a CPU with native bf16
(AVX512-BF16/AMX), and full fp32 elsewhere: on CPUs without native bf16 a bf16 matmul is 40-130x slower than fp32 (measured on AVX2-only CPUs).

One optimizer step = `accum_steps` micro-batches. Each micro-batch loss is divided by `accum_steps` so the summed
gradient is the mean over the effective batch; the scaler unscales once, right before clipping, so the clip
threshold applies to the true gradient norm; the optimizer steps (or skips on fp16 overflow) once per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run
from pytorch_patterns.skill.generate.choices import param_groups


class Config(TrainConfig):
    amp: common.AmpName = "auto"
    n_train: int = 8192
    n_val: int = 1024
    n_features: int = 64
    n_classes: int = 8
    hidden: int = 256
    micro_batch: int = 64
    accum_steps: int = 4  # effective batch = micro_batch * accum_steps
    lr: float = 2e-3
    weight_decay: float = 0.01
    steps: int = 60


@dataclass
class TabularData:
    x_train: torch.Tensor  # (N_train, F)
    y_train: torch.Tensor  # (N_train,)
    x_val: torch.Tensor  # (N_val, F)
    y_val: torch.Tensor  # (N_val,)


def build_data(cfg: Config) -> TabularData:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n = cfg.n_train + cfg.n_val
    teacher = torch.randn(cfg.n_features, cfg.n_classes, generator=g)  # (F, C)
    x = torch.randn(n, cfg.n_features, generator=g)  # (N, F)
    y = (torch.tanh(x) @ teacher).argmax(dim=1)  # (N, C) -> (N,)
    return TabularData(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:])


def build_model(cfg: Config) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cfg.n_features, cfg.hidden), nn.GELU(),  # (B, F) -> (B, H)
        nn.LayerNorm(cfg.hidden),  # CUDA autocast runs it in fp32; CPU bf16 autocast returns bf16
        nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(),  # (B, H) -> (B, H)
        nn.Linear(cfg.hidden, cfg.n_classes),  # (B, H) -> (B, C)
    )


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # Decay the weight matrices only: not the LayerNorm or the biases (skill/generate/choices.py).
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Validation accuracy, in the same precision as training (autocast applies to inference too)."""
    model.eval()
    amp_dtype = common.AMP_DTYPES[common.resolve_amp(device, cfg.amp)]
    loader = DataLoader(common.InMemoryDataset(data.x_val, data.y_val), batch_size=1024,
                        collate_fn=common.keep_batch, pin_memory=device.type == "cuda")  # fixed order, every sample
    correct = torch.zeros((), dtype=torch.long, device=device)
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B,)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(xb)  # (B, C)
        correct += (logits.argmax(dim=1) == yb).sum()
    return correct.item() / len(data.y_val)


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    run = Run(cfg, hooks)  # seeds everything; picks run.device
    device = run.device
    amp = run.amp  # "fp16", "bf16" or "none" ("auto" resolved for this device)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    train_set = common.InMemoryDataset(data.x_train, data.y_train)
    loader = DataLoader(
        train_set,
        # Shuffled micro-batches; the order is a function of (seed, epoch), so a resume can start mid-epoch.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.micro_batch, seed=cfg.seed, shuffle=True,
                                               drop_last=False),
        collate_fn=common.keep_batch,  # __getitems__ already returns the (x, y) batch
        num_workers=0,  # in-memory tensors: one indexing op per batch in-process; workers would only add IPC
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device)  # parameters stay fp32; autocast casts per op
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    # fp16 needs loss scaling (small gradients underflow); bf16 has fp32's exponent range and needs none.
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)  # + scaler state

    model.train()
    for _ in run.steps():
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        for _ in range(cfg.accum_steps):
            xb, yb = batches.next_batch()
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (b, F), (b,)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = step_model(xb)  # (b, C) in fp16/bf16
                loss = F.cross_entropy(logits.float(), yb) / cfg.accum_steps  # the loss in fp32
            scaler.scale(loss).backward()  # gradients add up across micro-batches
            step_loss += loss.detach()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)  # once per step, after the last backward, before clipping
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)  # skips the update if the fp16 gradients overflowed
        scaler.update()
        scheduler.step()
        run.record(step_loss, items=cfg.micro_batch * cfg.accum_steps)

    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_accuracy", unit="samples/s")


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
