"""Fine-tuning a frozen pretrained backbone with optimizer parameter groups.

The stem is frozen (requires_grad off *and* kept in eval mode so its BatchNorm statistics stay pretrained), the
last stage is unfrozen with a 10x smaller learning rate, the new head trains at the full rate, and the optimizer
only sees trainable parameters.

No downloads: `pretrained_backbone()` stands in for loading real weights (in real code:
`backbone.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))` or torchvision `weights=`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult


class Config(TrainConfig):
    n_train: int = 1024
    n_val: int = 512
    image_size: int = 16
    n_classes: int = 5
    width: int = 16
    batch_size: int = 64
    head_lr: float = 1e-2
    backbone_lr_scale: float = 0.1  # the unfrozen stage learns 10x slower than the new head
    weight_decay: float = 1e-4
    steps: int = 100


@dataclass
class ImageData:
    x_train: torch.Tensor  # (N_train, 3, H, W)
    y_train: torch.Tensor  # (N_train,)
    x_val: torch.Tensor  # (N_val, 3, H, W)
    y_val: torch.Tensor  # (N_val,)


def build_data(cfg: Config) -> ImageData:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n, s = cfg.n_train + cfg.n_val, cfg.image_size
    templates = torch.randn(cfg.n_classes, 3, s, s, generator=g)  # (K, 3, H, W)
    y = torch.randint(cfg.n_classes, (n,), generator=g)  # (N,)
    x = templates[y] + torch.randn(n, 3, s, s, generator=g)  # (N, 3, H, W)
    return ImageData(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:])


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Backbone(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, width), conv_bn(width, width), nn.MaxPool2d(2))  # (B,3,H,W)->(B,w,H/2,W/2)
        self.stage = nn.Sequential(conv_bn(width, 2 * width), nn.MaxPool2d(2))  # -> (B, 2w, H/4, W/4)
        self.out_features = 2 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage(self.stem(x))  # (B, 2w, H/4, W/4)
        return x.mean(dim=(2, 3))  # global average pool -> (B, 2w)


def pretrained_backbone(cfg: Config) -> Backbone:
    """Stand-in for pretrained weights: a fixed initialization independent of the run's seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        return Backbone(cfg.width)


class FineTuner(nn.Module):
    def __init__(self, backbone: Backbone, n_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_features, n_classes)  # new, randomly initialized
        self.backbone.stem.requires_grad_(False)  # frozen: no gradients, not in the optimizer

    def train(self, mode: bool = True) -> FineTuner:
        super().train(mode)
        self.backbone.stem.eval()  # frozen BatchNorm keeps its pretrained running statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # (B, 3, H, W) -> (B, 2w) -> (B, K)


def build_model(cfg: Config) -> nn.Module:
    return FineTuner(pretrained_backbone(cfg), cfg.n_classes)


@torch.inference_mode()
def evaluate(model: nn.Module, data: ImageData, cfg: Config, device: torch.device) -> float:
    """Accuracy on the validation split."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, data.x_val.shape[0], 256):
        xb = data.x_val[start:start + 256].to(device)  # (B, 3, H, W)
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
    batches = common.InMemoryBatches((data.x_train.to(device), data.y_train.to(device)), cfg.batch_size,
                                     seed=cfg.seed, drop_last=True)

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    # Parameter groups: the new head at the full rate, the unfrozen stage slower; frozen parameters left out.
    optimizer = torch.optim.AdamW([
        {"params": [p for p in model.head.parameters() if p.requires_grad], "lr": cfg.head_lr},
        {"params": [p for p in model.backbone.stage.parameters() if p.requires_grad],
         "lr": cfg.head_lr * cfg.backbone_lr_scale},
    ], weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)  # scales every group's lr
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
    model.train()  # FineTuner.train keeps the frozen stem in eval mode
    clock.start()
    for step in range(start_step, end_step):
        xb, yb = batches.next_batch()  # (B, 3, H, W), (B,)
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
