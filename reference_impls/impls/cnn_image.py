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

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult


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


@torch.inference_mode()
def evaluate(model: nn.Module, data: ImageData, cfg: Config, device: torch.device) -> float:
    """Top-1 accuracy on the validation split (no augmentation, BatchNorm running statistics)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, data.x_val.shape[0], 256):
        xb = data.x_val[start:start + 256].to(device)  # (B, C, H, W)
        yb = data.y_val[start:start + 256].to(device)  # (B,)
        correct += (model(xb).argmax(dim=1) == yb).sum()
    return correct.item() / data.x_val.shape[0]


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    # drop_last: every batch has the same size, so BatchNorm never sees a tiny last batch.
    batches = common.InMemoryBatches((data.x_train.to(device), data.y_train.to(device)), cfg.batch_size,
                                     seed=cfg.seed, drop_last=True)

    model = build_model(cfg).to(device).to(memory_format=MEMORY_FORMAT)
    step_model = common.maybe_compile(model, cfg.compile)
    # No weight decay on BatchNorm and bias parameters (1-D tensors).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.steps)
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
    model.train()  # BatchNorm uses batch statistics and updates its running averages
    clock.start()
    for step in range(start_step, end_step):
        xb, yb = batches.next_batch()  # (B, C, H, W), (B,)
        xb = augment(xb, cfg.crop_padding).contiguous(memory_format=MEMORY_FORMAT)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = step_model(xb)  # (B, K)
            loss = F.cross_entropy(logits, yb)
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
        metric_name="val_accuracy", eval_metric=metric, throughput_unit="samples/s", items_processed=clock.items,
        train_s=clock.train_s, compile_s=clock.compile_s, eval_s=eval_timer.seconds, device=str(device), amp=amp,
        paused=paused,
    )


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
