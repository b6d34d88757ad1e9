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
from torch.utils.data import DataLoader

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run
from pytorch_patterns.skill.generate.choices import param_groups


class Config(TrainConfig):
    n_train: int = 4096
    n_val: int = 512
    n_test: int = 512
    n_features: int = 8
    hidden: int = 64
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
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


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # Decay the weight matrices only (skill/generate/choices.py: no decay for biases, norms, embeddings).
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)


@torch.inference_mode()
def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: Config, device: torch.device) -> torch.Tensor:
    """Mean squared error over a whole split (a 0-dim tensor on the device: no host sync here)."""
    model.eval()
    loader = DataLoader(common.InMemoryDataset(x, y), batch_size=1024, collate_fn=common.keep_batch,
                        pin_memory=device.type == "cuda")  # fixed order, every sample
    total = torch.zeros((), device=device)
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B, 1)
        with common.autocast(device, cfg.amp):
            pred = model(xb)  # (B, 1)
        total += F.mse_loss(pred.float(), yb, reduction="sum")
    return total / x.shape[0]


def evaluate(model: nn.Module, data: RegressionData, cfg: Config, device: torch.device) -> float:
    """Test RMSE (standardized units)."""
    return mse(model, data.x_test, data.y_test, cfg, device).sqrt().item()


class EarlyStopping:
    """Keeps the best validation loss and weights; `stopped` after `patience` evaluations without improvement.
    Its state is part of the checkpoint, so a resumed run stops where the uninterrupted one would."""

    def __init__(self, model: nn.Module, patience: int, min_delta: float) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_val = float("inf")
        self.bad_evals = 0
        self.best_state = copy.deepcopy(model.state_dict())

    @property
    def stopped(self) -> bool:
        return self.bad_evals >= self.patience

    def update(self, val: float, model: nn.Module) -> None:
        if val < self.best_val - self.min_delta:
            self.best_val, self.bad_evals = val, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_evals += 1

    def state_dict(self) -> dict:
        return {"best_val": self.best_val, "bad_evals": self.bad_evals, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best_val, self.bad_evals, self.best_state = state["best_val"], state["bad_evals"], state["best_state"]


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
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=cfg.warmup_steps)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.steps - cfg.warmup_steps))
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, decay], milestones=[cfg.warmup_steps])
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    stopper = EarlyStopping(model, cfg.patience, cfg.min_delta)
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches,
              extra={"early_stopping": stopper})

    model.train()
    for step in run.steps():
        if stopper.stopped:
            break
        xb, yb = batches.next_batch()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, F), (B, 1)
        with run.autocast():
            pred = step_model(xb)  # (B, 1)
        loss = F.mse_loss(pred.float(), yb)  # the loss in fp32 even under autocast
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        run.record(loss, items=xb.shape[0])

        if (step + 1) % cfg.eval_every == 0:
            stopper.update(mse(model, data.x_val, data.y_val, cfg, device).item(), model)  # one sync per eval
            model.train()  # mse() switched to eval mode

    def final_metric() -> float:  # after the checkpoint is written: it holds the last weights, not the best
        model.load_state_dict(stopper.best_state)  # evaluate the best weights, not the last ones
        return evaluate(model, data, cfg, device)

    return run.finish(final_metric, metric="test_rmse", unit="samples/s", stopped=stopper.stopped)


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
