"""An undercomplete autoencoder: 32-D data that lies near a 4-D manifold, compressed through a 4-D bottleneck.

The loss is reconstruction MSE against the input itself; the metric is validation reconstruction MSE (lower is
better). Adam with exponential learning-rate decay, LayerNorm in the encoder.
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


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)  # no weight decay at all: nothing to exclude


@torch.inference_mode()
def evaluate(model: nn.Module, data: ManifoldData, cfg: Config, device: torch.device) -> float:
    """Validation reconstruction MSE, under the same autocast as training."""
    model.eval()
    loader = DataLoader(common.InMemoryDataset(data.x_val), batch_size=1024, collate_fn=common.keep_batch,
                        pin_memory=device.type == "cuda")  # fixed order, every sample
    total = torch.zeros((), device=device)
    for (xb,) in loader:
        xb = xb.to(device, non_blocking=True)  # (B, D)
        with common.autocast(device, cfg.amp):
            recon = model(xb)  # (B, D)
        total += F.mse_loss(recon.float(), xb, reduction="sum")
    return total.item() / data.x_val.numel()


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    run = Run(cfg, hooks)  # seeds everything; picks run.device and the precision (run.amp)
    device = run.device

    data = build_data(cfg)
    train_set = common.InMemoryDataset(data.x_train)
    loader = DataLoader(
        train_set,
        # Shuffled batches of indices; the order is a function of (seed, epoch), so a resume can start mid-epoch.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=False),
        collate_fn=common.keep_batch,  # __getitems__ already returns the batch
        num_workers=0,  # in-memory tensors: one indexing op per batch in-process; workers would only add IPC
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()
    for _ in run.steps():
        (xb,) = batches.next_batch()
        xb = xb.to(device, non_blocking=True)  # (B, D)
        with run.autocast():
            recon = step_model(xb)  # (B, D)
        loss = F.mse_loss(recon.float(), xb)  # the target is the input itself; the loss in fp32
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        run.record(loss, items=xb.shape[0])

    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_reconstruction_mse", unit="samples/s")


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
