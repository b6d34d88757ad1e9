"""Tabular classification with an MLP: standardized features, AdamW + cosine schedule, accuracy on a held-out split.

Synthetic data: a random linear "teacher" labels Gaussian features, so the task is learnable and needs no download.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult


class Config(TrainConfig):
    n_train: int = 4096
    n_val: int = 1024
    n_features: int = 20
    n_classes: int = 4
    hidden: int = 128
    dropout: float = 0.1
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-2
    steps: int = 200


@dataclass
class TabularData:
    x_train: torch.Tensor  # (N_train, F) float32
    y_train: torch.Tensor  # (N_train,) int64 class ids
    x_val: torch.Tensor  # (N_val, F)
    y_val: torch.Tensor  # (N_val,)


def build_data(cfg: Config) -> TabularData:
    g = torch.Generator().manual_seed(cfg.seed + 1)  # the data's own generator: the same data for any model seed
    n = cfg.n_train + cfg.n_val
    teacher = torch.randn(cfg.n_features, cfg.n_classes, generator=g)  # (F, C)
    x = torch.randn(n, cfg.n_features, generator=g) * torch.linspace(0.5, 3.0, cfg.n_features)  # (N, F)
    y = (x @ teacher + 0.5 * torch.randn(n, cfg.n_classes, generator=g)).argmax(dim=1)  # (N, C) -> (N,)
    # Standardize with training statistics only, so no validation information leaks into training.
    mean, std = x[: cfg.n_train].mean(dim=0), x[: cfg.n_train].std(dim=0)  # (F,), (F,)
    x = (x - mean) / std
    return TabularData(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:])


def build_model(cfg: Config) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cfg.n_features, cfg.hidden),  # (B, F) -> (B, H)
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, cfg.hidden),  # (B, H) -> (B, H)
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden, cfg.n_classes),  # (B, H) -> (B, C) logits
    )


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Accuracy on the validation split."""
    model.eval()  # dropout off
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, data.x_val.shape[0], 1024):
        xb = data.x_val[start:start + 1024].to(device)  # (B, F)
        yb = data.y_val[start:start + 1024].to(device)  # (B,)
        logits = model(xb)  # (B, C)
        correct += (logits.argmax(dim=1) == yb).sum()
    return correct.item() / data.x_val.shape[0]


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    # The training set is small: keep it on the device and fetch whole batches by index.
    batches = common.InMemoryBatches((data.x_train.to(device), data.y_train.to(device)), cfg.batch_size,
                                     seed=cfg.seed)

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")  # a no-op unless fp16

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
        xb, yb = batches.next_batch()  # (B, F), (B,)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = step_model(xb)  # (B, C)
            loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()

        loss_history.append(loss.detach())  # stays on the device: no per-step host sync
        clock.step_done(xb.shape[0])
        if hooks.on_log is not None and (step + 1) % cfg.log_every == 0:
            hooks.on_log(step + 1, cfg.steps, loss.item())
    clock.stop()

    if hooks.checkpoint_path is not None:
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
