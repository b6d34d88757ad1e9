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
from torch.utils.data import DataLoader

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run
from pytorch_patterns.skill.generate.choices import param_groups


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


def build_optimizer(cfg: Config, model: FineTuner) -> torch.optim.Optimizer:
    # Parameter groups: the new head at the full rate, the unfrozen stage slower; frozen parameters left out
    # (param_groups skips them), and no weight decay on biases and BatchNorm (skill/generate/choices.py).
    head_lr, stage_lr = cfg.head_lr, cfg.head_lr * cfg.backbone_lr_scale
    return torch.optim.AdamW(param_groups(model.head, cfg.weight_decay, lr=head_lr)
                             + param_groups(model.backbone.stage, cfg.weight_decay, lr=stage_lr))


@torch.inference_mode()
def evaluate(model: nn.Module, data: ImageData, cfg: Config, device: torch.device) -> float:
    """Accuracy on the validation split, under the same autocast as training."""
    model.eval()
    loader = DataLoader(common.InMemoryDataset(data.x_val, data.y_val), batch_size=256,
                        collate_fn=common.keep_batch, pin_memory=device.type == "cuda")  # fixed order, every sample
    correct = torch.zeros((), dtype=torch.long, device=device)
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, 3, H, W), (B,)
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
        # drop_last: the unfrozen stage's BatchNorm never sees a tiny last batch.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=True),
        collate_fn=common.keep_batch,  # __getitems__ already returns the batch
        num_workers=0,  # in-memory tensors: one indexing op per batch in-process; workers would only add IPC
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)  # scales every group's lr
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()  # FineTuner.train keeps the frozen stem in eval mode
    for _ in run.steps():
        xb, yb = batches.next_batch()
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)  # (B, 3, H, W), (B,)
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
