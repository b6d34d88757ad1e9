"""Stable Diffusion style UNet fine-tune skeleton with Accelerate (manual gradient accumulation)."""
import argparse
import math

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers import DDPMScheduler, UNet2DModel
from torch.utils.data import DataLoader

from butterflies import ButterflyDataset  # local


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--bs", type=int, default=16)
    p.add_argument("--accum", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    args = p.parse_args()

    accelerator = Accelerator(mixed_precision="fp16")
    set_seed(0)
    ds = ButterflyDataset("data/smithsonian_butterflies", size=128)
    loader = DataLoader(ds, batch_size=args.bs, shuffle=True, num_workers=4, drop_last=True)
    model = UNet2DModel(sample_size=128, in_channels=3, out_channels=3, layers_per_block=2,
                        block_out_channels=(128, 128, 256, 256, 512, 512))
    noise_scheduler = DDPMScheduler(num_train_timesteps=1000)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    updates = math.ceil(len(loader) / args.accum) * args.epochs
    lr_sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 500) * max(0.0, 1 - s / updates))
    model, optimizer, loader, lr_sched = accelerator.prepare(model, optimizer, loader, lr_sched)

    global_step = 0
    for epoch in range(args.epochs):
        model.train()
        for step, images in enumerate(loader):
            noise = torch.randn_like(images)
            t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (images.size(0),), device=images.device)
            noisy = noise_scheduler.add_noise(images, noise, t)
            pred = model(noisy, t, return_dict=False)[0]
            loss = F.mse_loss(pred, noise) / args.accum
            accelerator.backward(loss)
            if step % args.accum == 0:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                lr_sched.step()
                optimizer.zero_grad()
                global_step += 1
            if accelerator.is_main_process and global_step % 100 == 0:
                accelerator.print(f"epoch {epoch} step {global_step} loss {loss.item() * args.accum:.4f}")
        if accelerator.is_main_process and (epoch + 1) % 10 == 0:
            accelerator.unwrap_model(model).save_pretrained(f"ddpm-butterflies-{epoch + 1}")


if __name__ == "__main__":
    main()
