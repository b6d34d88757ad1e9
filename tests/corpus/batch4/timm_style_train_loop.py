"""Condensed timm-style training loop: model EMA, mixup, cosine schedule stepped per update."""
import argparse
import time

import torch
import torch.nn as nn
from timm.data import Mixup, create_loader, create_dataset
from timm.loss import SoftTargetCrossEntropy
from timm.models import create_model
from timm.scheduler import CosineLRScheduler
from timm.utils import ModelEmaV2, accuracy


def train_one_epoch(epoch, model, loader, optimizer, loss_fn, lr_scheduler, mixup_fn, model_ema, scaler):
    model.train()
    num_updates = epoch * len(loader)
    end = time.time()
    for batch_idx, (x, target) in enumerate(loader):
        x, target = x.cuda(non_blocking=True), target.cuda(non_blocking=True)
        x, target = mixup_fn(x, target)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(model(x), target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        model_ema.update(model)
        num_updates += 1
        lr_scheduler.step_update(num_updates=num_updates)
        if batch_idx % 100 == 0:
            torch.cuda.synchronize()
            print(f"epoch {epoch} [{batch_idx}/{len(loader)}] loss {loss.item():.3f} {time.time() - end:.1f}s")
            end = time.time()


@torch.no_grad()
def validate(model, loader):
    model.eval()
    top1 = n = 0.0
    for x, target in loader:
        x, target = x.cuda(non_blocking=True), target.cuda(non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x)
        top1 += accuracy(out, target, topk=(1,))[0].item() * x.size(0)
        n += x.size(0)
    return top1 / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args()
    torch.manual_seed(42)
    model = create_model(args.model, num_classes=1000).cuda()
    model_ema = ModelEmaV2(model, decay=0.9998)
    train_ds = create_dataset("", root=args.data, split="train", is_training=True)
    val_ds = create_dataset("", root=args.data, split="validation")
    train_loader = create_loader(train_ds, input_size=(3, 224, 224), batch_size=128, is_training=True, num_workers=8)
    val_loader = create_loader(val_ds, input_size=(3, 224, 224), batch_size=256, is_training=False, num_workers=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=2e-5, nesterov=True)
    lr_scheduler = CosineLRScheduler(optimizer, t_initial=args.epochs * len(train_loader), warmup_t=5 * len(train_loader),
                                     warmup_lr_init=1e-4, t_in_epochs=False)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    mixup_fn = Mixup(mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=1000)
    loss_fn = SoftTargetCrossEntropy().cuda()
    for epoch in range(args.epochs):
        train_one_epoch(epoch, model, train_loader, optimizer, loss_fn, lr_scheduler, mixup_fn, model_ema, scaler)
        print(f"epoch {epoch} top1 {validate(model, val_loader):.2f} ema top1 {validate(model_ema.module, val_loader):.2f}")
        torch.save({"model": model.state_dict(), "ema": model_ema.module.state_dict(), "epoch": epoch}, "last.pth.tar")


if __name__ == "__main__":
    main()
