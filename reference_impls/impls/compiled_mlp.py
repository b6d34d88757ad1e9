"""A `torch.compile` variant: static shapes, the plain module kept for checkpoints and eval, compile time apart.

Compile the training forward once with static shapes, keep a handle on the plain module for state_dict /
evaluation / checkpoints, and account for the compile time separately.

- Static shapes (drop_last, dynamic=False): a partial last batch would trigger a recompile.
- Evaluation uses the plain module: eval mode and inference_mode would each trigger another compilation, which
  costs more than it saves on a small validation set.
- Checkpoints hold the plain module's state_dict (no `_orig_mod.` prefixes), so they load with or without compile.
- The first compiled step pays for compilation (12-50 s cold on small CPUs): it is timed as compile time.

Compilation happens only when `compile=True` (the runner's --compile); without it the same code runs eagerly, which is
how the tests exercise it.
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
    n_features: int = 32
    n_classes: int = 4
    hidden: int = 128
    batch_size: int = 128
    lr: float = 2e-3
    steps: int = 100


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
    y = (torch.relu(x) @ teacher).argmax(dim=1)  # (N, C) -> (N,)
    return TabularData(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:])


class ResidualMLP(nn.Module):
    """Pointwise ops between matmuls (norm, GELU, residual add) are what the compiler fuses."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.inp = nn.Linear(cfg.n_features, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.fc1 = nn.Linear(cfg.hidden, cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)  # (B, F) -> (B, H)
        h = h + self.fc2(F.gelu(self.fc1(self.norm(h))))  # (B, H) residual block
        return self.out(F.gelu(h))  # (B, H) -> (B, C)


def build_model(cfg: Config) -> nn.Module:
    return ResidualMLP(cfg)


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Validation accuracy with the plain (uncompiled) module."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, data.x_val.shape[0], 1024):
        xb = data.x_val[start:start + 1024].to(device)  # (B, F)
        yb = data.y_val[start:start + 1024].to(device)  # (B,)
        correct += (model(xb).argmax(dim=1) == yb).sum()
    return correct.item() / data.x_val.shape[0]


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    batches = common.InMemoryBatches((data.x_train.to(device), data.y_train.to(device)), cfg.batch_size,
                                     seed=cfg.seed, drop_last=True)  # every batch the same shape

    model = build_model(cfg).to(device)  # the plain module: owns the parameters, used for checkpoints and eval
    compiled = torch.compile(model, dynamic=False) if cfg.compile else model  # shares model's parameters
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    start_step = 0
    if hooks.resume:
        ckpt = common.load_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                                      scaler=scaler, device=device)
        batches.load_state_dict(ckpt["loader"])
        start_step = ckpt["step"]
    end_step = cfg.steps if hooks.stop_at is None else min(cfg.steps, hooks.stop_at)

    loss_history: list[torch.Tensor] = []
    clock = common.TrainClock(device, compiling=cfg.compile)  # the first compiled step is compile time
    model.train()
    clock.start()
    for step in range(start_step, end_step):
        xb, yb = batches.next_batch()  # (B, F), (B,)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = compiled(xb)  # (B, C)
            loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # the compiled backward graph runs here
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()

        loss_history.append(loss.detach())
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
