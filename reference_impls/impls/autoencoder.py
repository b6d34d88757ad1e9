"""An undercomplete autoencoder: 32-D data that lies near a 4-D manifold, compressed through a 4-D bottleneck.

The loss is reconstruction MSE against the input itself; the metric is validation reconstruction MSE (lower is
better). Adam with exponential learning-rate decay, LayerNorm in the encoder.
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
    n_val: int = 512
    data_dim: int = 32
    latent_dim: int = 4
    hidden: int = 64
    noise: float = 0.05
    batch_size: int = 128
    lr: float = 3e-3
    lr_decay: float = 0.995
    steps: int = 200


@dataclass
class ManifoldData:
    x_train: torch.Tensor  # (N_train, D)
    x_val: torch.Tensor  # (N_val, D)


def build_data(cfg: Config) -> ManifoldData:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n = cfg.n_train + cfg.n_val
    z = torch.randn(n, cfg.latent_dim, generator=g)  # (N, d) true low-dimensional factors
    mixing = torch.randn(cfg.latent_dim, cfg.data_dim, generator=g) / cfg.latent_dim ** 0.5  # (d, D)
    x = torch.tanh(z @ mixing) + cfg.noise * torch.randn(n, cfg.data_dim, generator=g)  # (N, D)
    return ManifoldData(x[: cfg.n_train], x[cfg.n_train:])


class AutoEncoder(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(cfg.data_dim, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU(),  # (B, D) -> (B, H)
            nn.Linear(cfg.hidden, cfg.latent_dim),  # (B, H) -> (B, d) code
        )
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.hidden), nn.GELU(),  # (B, d) -> (B, H)
            nn.Linear(cfg.hidden, cfg.data_dim),  # (B, H) -> (B, D) reconstruction
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))  # (B, D) -> (B, d) -> (B, D)


def build_model(cfg: Config) -> nn.Module:
    return AutoEncoder(cfg)


@torch.inference_mode()
def evaluate(model: nn.Module, data: ManifoldData, cfg: Config, device: torch.device) -> float:
    """Validation reconstruction MSE."""
    model.eval()
    total = torch.zeros((), device=device)
    for start in range(0, data.x_val.shape[0], 1024):
        xb = data.x_val[start:start + 1024].to(device)  # (B, D)
        total += F.mse_loss(model(xb), xb, reduction="sum")
    return total.item() / data.x_val.numel()


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    batches = common.InMemoryBatches((data.x_train.to(device),), cfg.batch_size, seed=cfg.seed)

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
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
        (xb,) = batches.next_batch()  # (B, D)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            recon = step_model(xb)  # (B, D)
        loss = F.mse_loss(recon.float(), xb)  # the target is the input itself
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
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
        metric_name="val_reconstruction_mse", eval_metric=metric, throughput_unit="samples/s",
        items_processed=clock.items, train_s=clock.train_s, compile_s=clock.compile_s, eval_s=eval_timer.seconds,
        device=str(device), amp=amp, paused=paused,
    )


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
