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
from torch.utils.data import DataLoader

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run
from pytorch_patterns.skill.generate.choices import param_groups


class Config(TrainConfig):
    n_train: int = 4096
    n_val: int = 1024
    n_features: int = 32
    n_classes: int = 4
    hidden: int = 128
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
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


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # Decay the weight matrices only (skill/generate/choices.py: no decay for biases, norms, embeddings).
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)


@torch.inference_mode()
def evaluate(model: nn.Module, data: TabularData, cfg: Config, device: torch.device) -> float:
    """Validation accuracy with the plain (uncompiled) module, under the same autocast as training."""
    model.eval()
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
    device = run.device  # the run's compile_s is the first compiled step, timed apart from the steady steps

    data = build_data(cfg)
    train_set = common.InMemoryDataset(data.x_train, data.y_train)
    loader = DataLoader(
        train_set,
        # drop_last: every batch the same shape, so the compiled graph never recompiles.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=True),
        collate_fn=common.keep_batch,  # __getitems__ already returns the batch
        num_workers=0,  # in-memory tensors: one indexing op per batch in-process; workers would only add IPC
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device)  # the plain module: owns the parameters, used for checkpoints and eval
    compiled = torch.compile(model, dynamic=False) if cfg.compile else model  # shares model's parameters
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()
    for _ in run.steps():
        xb, yb = batches.next_batch()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B,)
        with run.autocast():
            logits = compiled(xb)  # (B, C)
            loss = F.cross_entropy(logits.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # the compiled backward graph runs here
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        run.record(loss, items=xb.shape[0])

    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_accuracy", unit="samples/s")


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
