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

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult


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
    grad_clip: float = 1.0
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
        nn.LayerNorm(cfg.hidden),  # autocast runs normalization in fp32
        nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(),  # (B, H) -> (B, H)
        nn.Linear(cfg.hidden, cfg.n_classes),  # (B, H) -> (B, C)
    )


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Validation accuracy, in the same precision as training (autocast applies to inference too)."""
    model.eval()
    amp_dtype = common.AMP_DTYPES[common.resolve_amp(device, cfg.amp)]
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, data.x_val.shape[0], 1024):
        xb = data.x_val[start:start + 1024].to(device)  # (B, F)
        yb = data.y_val[start:start + 1024].to(device)  # (B,)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(xb)  # (B, C)
        correct += (logits.argmax(dim=1) == yb).sum()
    return correct.item() / data.x_val.shape[0]


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)  # "fp16", "bf16" or "none"
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    batches = common.InMemoryBatches((data.x_train.to(device), data.y_train.to(device)), cfg.micro_batch,
                                     seed=cfg.seed)

    model = build_model(cfg).to(device)  # parameters stay fp32; autocast casts per op
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    # fp16 needs loss scaling (small gradients underflow); bf16 has fp32's exponent range and needs none.
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    start_step = 0
    if hooks.resume:
        ckpt = common.load_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                                      scaler=scaler, device=device)
        batches.load_state_dict(ckpt["loader"])
        start_step = ckpt["step"]
    end_step = cfg.steps if hooks.stop_at is None else min(cfg.steps, hooks.stop_at)

    loss_history: list[torch.Tensor] = []
    clock = common.TrainClock(device, compiling=cfg.compile)
    model.train()
    clock.start()
    for step in range(start_step, end_step):
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        for _ in range(cfg.accum_steps):
            xb, yb = batches.next_batch()  # (b, F), (b,)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = step_model(xb)  # (b, C) in fp16/bf16
                loss = F.cross_entropy(logits, yb) / cfg.accum_steps  # autocast computes the loss in fp32
            scaler.scale(loss).backward()  # gradients add up across micro-batches
            step_loss += loss.detach()
        scaler.unscale_(optimizer)  # once per step, after the last backward, before clipping
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)  # skips the update if the fp16 gradients overflowed
        scaler.update()
        scheduler.step()

        loss_history.append(step_loss)
        clock.step_done(cfg.micro_batch * cfg.accum_steps)
        if hooks.on_log is not None and (step + 1) % cfg.log_every == 0:
            hooks.on_log(step + 1, cfg.steps, step_loss.item())
    clock.stop()

    if hooks.checkpoint_path is not None:
        # The scaler's state (current scale, growth tracker) is part of the checkpoint.
        common.save_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                               scaler=scaler, step=end_step, loader_state=batches.state_dict(), cfg=cfg)
    paused = end_step < cfg.steps
    eval_timer = common.Timer(device)
    metric = None
    if not paused:
        with eval_timer:
            metric = evaluate(model, data, cfg, device)
    return TrainResult(
        start_step=start_step, steps_run=end_step - start_step, losses=common.losses_to_floats(loss_history),
        metric_name="val_accuracy", eval_metric=metric, throughput_unit="samples/s", items_processed=clock.items,
        train_s=clock.train_s, compile_s=clock.compile_s, eval_s=eval_timer.seconds, device=str(device), amp=amp,
        paused=paused,
    )


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
