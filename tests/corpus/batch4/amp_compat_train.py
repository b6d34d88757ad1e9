"""Mixed-precision training that also runs on older PyTorch installs (1.x clusters)."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

try:
    from torch.amp import GradScaler, autocast
    NEW_AMP = True
except ImportError:  # torch < 2.3
    from torch.cuda.amp import GradScaler, autocast
    NEW_AMP = False

from data import SpectraDataset  # local
from model import SpectraNet


def make_scaler(enabled):
    return GradScaler("cuda", enabled=enabled) if NEW_AMP else GradScaler(enabled=enabled)


def amp_ctx(enabled):
    return autocast("cuda", dtype=torch.float16, enabled=enabled) if NEW_AMP else autocast(enabled=enabled)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--no-amp", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(0)
    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    use_amp = use_cuda and not args.no_amp

    train_dl = DataLoader(SpectraDataset("train"), batch_size=256, shuffle=True, num_workers=4, pin_memory=use_cuda)
    val_dl = DataLoader(SpectraDataset("val"), batch_size=512, num_workers=4, pin_memory=use_cuda)
    model = SpectraNet().to(device)
    if hasattr(torch, "compile") and use_cuda:
        model = torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    scaler = make_scaler(use_amp)

    for epoch in range(args.epochs):
        model.train()
        for x, y in train_dl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with amp_ctx(use_amp):
                loss = F.smooth_l1_loss(model(x), y)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            scaler.step(opt)
            scaler.update()

        model.eval()
        err = 0.0
        with torch.no_grad(), amp_ctx(use_amp):
            for x, y in val_dl:
                x, y = x.to(device), y.to(device)
                err += F.l1_loss(model(x), y, reduction="sum").item()
        print(f"epoch {epoch} val MAE {err / len(val_dl.dataset):.4f} scale {scaler.get_scale():.0f}")


if __name__ == "__main__":
    main()
