"""Regression with learning-rate warm-up and early stopping.

Linear warm-up then cosine decay (SequentialLR), validation every `eval_every` steps, the best weights kept and
restored at the end, training stopped after `patience` evaluations without improvement. The early-stopping state
(best loss, bad evaluations, best weights) is part of the checkpoint, so a resumed run stops where the
uninterrupted one would. The metric is test RMSE of the restored best weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult


class Config(TrainConfig):
    n_train: int = 4096
    n_val: int = 512
    n_test: int = 512
    n_features: int = 8
    hidden: int = 64
    batch_size: int = 128
    lr: float = 3e-3
    warmup_steps: int = 20
    eval_every: int = 20
    patience: int = 4
    min_delta: float = 1e-4
    steps: int = 200


@dataclass
class RegressionData:
    x_train: torch.Tensor  # (N_train, F)
    y_train: torch.Tensor  # (N_train, 1)
    x_val: torch.Tensor  # (N_val, F)
    y_val: torch.Tensor  # (N_val, 1)
    x_test: torch.Tensor  # (N_test, F)
    y_test: torch.Tensor  # (N_test, 1)


def build_data(cfg: Config) -> RegressionData:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n = cfg.n_train + cfg.n_val + cfg.n_test
    x = torch.rand(n, cfg.n_features, generator=g) * 4 - 2  # (N, F) uniform in [-2, 2]
    freq = torch.rand(cfg.n_features, generator=g) * 2 + 0.5  # (F,)
    y = torch.sin(x * freq).sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)  # (N, 1)
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    # Standardize the target with training statistics; RMSE is reported in these units.
    mu, sigma = y[:a].mean(), y[:a].std()
    y = (y - mu) / sigma
    return RegressionData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def build_model(cfg: Config) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cfg.n_features, cfg.hidden), nn.SiLU(),  # (B, F) -> (B, H)
        nn.Linear(cfg.hidden, cfg.hidden), nn.SiLU(),  # (B, H) -> (B, H)
        nn.Linear(cfg.hidden, 1),  # (B, H) -> (B, 1)
    )


@torch.inference_mode()
def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Mean squared error over a whole split (a 0-dim tensor on the device: no host sync here)."""
    model.eval()
    total = torch.zeros((), device=device)
    for start in range(0, x.shape[0], 1024):
        xb, yb = x[start:start + 1024].to(device), y[start:start + 1024].to(device)  # (B, F), (B, 1)
        total += F.mse_loss(model(xb), yb, reduction="sum")
    return total / x.shape[0]


def evaluate(model: nn.Module, data: RegressionData, cfg: Config, device: torch.device) -> float:
    """Test RMSE (standardized units)."""
    return mse(model, data.x_test, data.y_test, device).sqrt().item()


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    batches = common.InMemoryBatches((data.x_train.to(device), data.y_train.to(device)), cfg.batch_size,
                                     seed=cfg.seed)

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=cfg.warmup_steps)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.steps - cfg.warmup_steps))
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, decay], milestones=[cfg.warmup_steps])
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    # Early-stopping state.
    best_val = float("inf")
    bad_evals = 0
    best_state = copy.deepcopy(model.state_dict())

    start_step = 0
    if hooks.resume:
        ckpt = common.load_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                                      scaler=scaler, device=device)
        batches.load_state_dict(ckpt["loader"])
        start_step = ckpt["step"]
        best_val, bad_evals = ckpt["extra"]["best_val"], ckpt["extra"]["bad_evals"]
        best_state = ckpt["extra"]["best_state"]
    end_step = cfg.steps if hooks.stop_at is None else min(cfg.steps, hooks.stop_at)

    loss_history: list[torch.Tensor] = []
    clock = common.TrainClock(device, compiling=cfg.compile)
    model.train()
    clock.start()
    step = start_step
    while step < end_step and bad_evals < cfg.patience:
        xb, yb = batches.next_batch()  # (B, F), (B, 1)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            pred = step_model(xb)  # (B, 1)
        loss = F.mse_loss(pred.float(), yb)  # the loss in fp32 even under autocast
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step += 1

        loss_history.append(loss.detach())
        clock.step_done(xb.shape[0])
        if hooks.on_log is not None and step % cfg.log_every == 0:
            hooks.on_log(step, cfg.steps, loss.item())
        if step % cfg.eval_every == 0:
            val = mse(model, data.x_val, data.y_val, device).item()  # sync once per evaluation, not per step
            model.train()  # mse() switched to eval mode
            if val < best_val - cfg.min_delta:
                best_val, bad_evals = val, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_evals += 1
    clock.stop()

    early_stopped = bad_evals >= cfg.patience
    if hooks.checkpoint_path is not None:
        common.save_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                               scaler=scaler, step=step, loader_state=batches.state_dict(), cfg=cfg,
                               extra={"best_val": best_val, "bad_evals": bad_evals, "best_state": best_state})
    paused = step < cfg.steps and not early_stopped
    eval_timer = common.Timer(device)
    metric = None
    if not paused:
        model.load_state_dict(best_state)  # evaluate the best weights, not the last ones
        with eval_timer:
            metric = evaluate(model, data, cfg, device)
    return TrainResult(
        start_step=start_step, steps_run=step - start_step, losses=common.losses_to_floats(loss_history),
        metric_name="test_rmse", eval_metric=metric, throughput_unit="samples/s", items_processed=clock.items,
        train_s=clock.train_s, compile_s=clock.compile_s, eval_s=eval_timer.seconds, device=str(device), amp=amp,
        paused=paused,
    )


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
