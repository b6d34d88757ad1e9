"""Train a ConvNeXt on a GPU cluster node: pick bf16 where the hardware has it, enable TF32 matmuls."""
import argparse
import os

import torch
import torch.nn.functional as F
import timm
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def configure_precision():
    if not torch.cuda.is_available():
        return torch.float32
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("DATA", "/datasets/inat21_mini"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--bs", type=int, default=96)
    args = ap.parse_args()
    torch.manual_seed(0)

    amp_dtype = configure_precision()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_scaler = amp_dtype == torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    tf = transforms.Compose([transforms.RandomResizedCrop(192), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    ds = datasets.ImageFolder(f"{args.data}/train", tf)
    loader = DataLoader(ds, batch_size=args.bs, shuffle=True, num_workers=12, pin_memory=True, drop_last=True,
                        persistent_workers=True)
    model = timm.create_model("convnext_small", num_classes=len(ds.classes), drop_path_rate=0.2).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=args.epochs * len(loader),
                                                    pct_start=0.05)

    for epoch in range(args.epochs):
        model.train()
        for step, (x, y) in enumerate(loader):
            x = x.to(device, non_blocking=True).to(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype != torch.float32):
                loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if step % 100 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.3f} lr {scheduler.get_last_lr()[0]:.2e}")
        torch.save({"model": model.state_dict(), "epoch": epoch}, f"convnext_epoch{epoch}.pt")


if __name__ == "__main__":
    main()
