"""Image classification with a small CNN: BatchNorm, batched GPU-side augmentation (random crop + flip), SGD with
momentum and a one-cycle schedule.

Synthetic data: each class is a fixed random 16x16 pattern plus noise and a random shift, so the model has to learn
translation-tolerant features, which is what the augmentation helps with.
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


MEMORY_FORMAT = torch.channels_last


class Config(TrainConfig):
    n_train: int = 2048
    n_val: int = 512
    image_size: int = 16
    channels: int = 3
    n_classes: int = 10
    width: int = 16
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    crop_padding: int = 2
    steps: int = 120


@dataclass
class ImageData:
    x_train: torch.Tensor  # (N_train, C, H, W) float32, normalized
    y_train: torch.Tensor  # (N_train,) int64
    x_val: torch.Tensor  # (N_val, C, H, W)
    y_val: torch.Tensor  # (N_val,)


def build_data(cfg: Config) -> ImageData:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n, s = cfg.n_train + cfg.n_val, cfg.image_size
    templates = torch.randn(cfg.n_classes, cfg.channels, s, s, generator=g)  # (K, C, H, W)
    y = torch.randint(cfg.n_classes, (n,), generator=g)  # (N,)
    x = templates[y] + 0.8 * torch.randn(n, cfg.channels, s, s, generator=g)  # (N, C, H, W)
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    for i in range(n):  # a small random translation per image (data creation only, not the training loop)
        x[i] = torch.roll(x[i], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2))
    # Per-channel normalization with training statistics.
    mean = x[: cfg.n_train].mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
    std = x[: cfg.n_train].std(dim=(0, 2, 3), keepdim=True)
    x = (x - mean) / std
    return ImageData(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:])


def augment(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Random crop (after zero padding) and horizontal flip for a whole batch at once, on x's device."""
    b, _, h, w = x.shape
    x = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)  # (B,)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (B, W)
    batch_idx = torch.arange(b, device=x.device)[:, None, None]  # (B, 1, 1)
    x = x.permute(0, 2, 3, 1)[batch_idx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    x = x.permute(0, 3, 1, 2)  # (B, C, H, W)
    flip = torch.rand(b, device=x.device) < 0.5  # (B,)
    return torch.where(flip[:, None, None, None], x.flip(dims=(3,)), x)


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    # No conv bias: BatchNorm's shift makes it redundant.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def build_model(cfg: Config) -> nn.Module:
    w = cfg.width
    return nn.Sequential(
        conv_bn(cfg.channels, w),  # (B, C, 16, 16) -> (B, w, 16, 16)
        conv_bn(w, 2 * w),  # -> (B, 2w, 16, 16)
        nn.MaxPool2d(2),  # -> (B, 2w, 8, 8)
        conv_bn(2 * w, 4 * w),  # -> (B, 4w, 8, 8)
        nn.MaxPool2d(2),  # -> (B, 4w, 4, 4)
        nn.AdaptiveAvgPool2d(1),  # -> (B, 4w, 1, 1)
        nn.Flatten(),  # -> (B, 4w)
        nn.Linear(4 * w, cfg.n_classes),  # -> (B, K) logits
    )


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # No weight decay on BatchNorm parameters and biases (skill/generate/choices.py).
    return torch.optim.SGD(param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=0.9, nesterov=True)


@torch.inference_mode()
def evaluate(model: nn.Module, data: ImageData, cfg: Config, device: torch.device) -> float:
    """Top-1 accuracy on the validation split (no augmentation, BatchNorm running statistics, training's autocast)."""
    model.eval()
    loader = DataLoader(common.InMemoryDataset(data.x_val, data.y_val), batch_size=256,
                        collate_fn=common.keep_batch, pin_memory=device.type == "cuda")  # fixed order, every sample
    correct = torch.zeros((), dtype=torch.long, device=device)
    for xb, yb in loader:
        xb = xb.to(device, non_blocking=True).contiguous(memory_format=MEMORY_FORMAT)  # (B, C, H, W)
        yb = yb.to(device, non_blocking=True)  # (B,)
        with common.autocast(device, cfg.amp):
            logits = model(xb)  # (B, K)
        correct += (logits.argmax(dim=1) == yb).sum()
    return correct.item() / len(data.y_val)


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    run = Run(cfg, hooks)  # seeds everything; picks run.device and the precision (run.amp)
    device = run.device

    data = build_data(cfg)
    train_set = common.InMemoryDataset(data.x_train, data.y_train)
    loader = DataLoader(
        train_set,
        # drop_last: every batch has the same size, so BatchNorm never sees a tiny last batch.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=True),
        collate_fn=common.keep_batch,  # __getitems__ already returns the (x, y) batch
        num_workers=0,  # in-memory tensors; augmentation runs batched on the device, not per item in workers
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device).to(memory_format=MEMORY_FORMAT)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.steps)
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()  # BatchNorm uses batch statistics and updates its running averages
    for _ in run.steps():
        xb, yb = batches.next_batch()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, C, H, W), (B,)
        xb = augment(xb, cfg.crop_padding).contiguous(memory_format=MEMORY_FORMAT)
        with run.autocast():
            logits = step_model(xb)  # (B, K)
            loss = F.cross_entropy(logits.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
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
