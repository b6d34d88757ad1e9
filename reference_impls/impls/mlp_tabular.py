"""Tabular classification with an MLP: standardized features, AdamW + cosine schedule, accuracy on a held-out split.

Synthetic data: a random linear "teacher" labels Gaussian features, so the task is learnable and needs no download.
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


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # Decay the weight matrices only (skill/generate/choices.py: no decay for biases, norms, embeddings).
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Accuracy on the validation split, under the same autocast as training."""
    model.eval()  # dropout off
    loader = DataLoader(common.InMemoryDataset(data.x_val, data.y_val), batch_size=1024,
                        collate_fn=common.keep_batch, pin_memory=device.type == "cuda")  # fixed order, every sample
    correct = torch.zeros((), dtype=torch.long, device=device)
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B,)
        with common.autocast(device, cfg.amp):
            logits = model(xb)  # (B, C)
        correct += (logits.argmax(dim=1) == yb).sum()
    return correct.item() / len(data.y_val)


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    run = Run(cfg, hooks)  # seeds everything; picks run.device and the precision (run.amp)
    device = run.device

    data = build_data(cfg)
    train_set = common.InMemoryDataset(data.x_train, data.y_train)
    loader = DataLoader(
        train_set,
        # Shuffled batches of indices; the order is a function of (seed, epoch), so a resume can start mid-epoch.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=False),
        collate_fn=common.keep_batch,  # __getitems__ already returns the (x, y) batch
        num_workers=0,  # in-memory tensors: one indexing op per batch in-process; workers would only add IPC
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")  # a no-op unless fp16
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()
    for _ in run.steps():
        xb, yb = batches.next_batch()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B,)
        with run.autocast():
            logits = step_model(xb)  # (B, C)
            loss = F.cross_entropy(logits.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        run.record(loss, items=xb.shape[0])  # kept on the device: no host sync per step

    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_accuracy", unit="samples/s")


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
