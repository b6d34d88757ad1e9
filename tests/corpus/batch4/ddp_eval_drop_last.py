"""DDP fine-tuning of a ViT with distributed evaluation (metrics all-reduced across ranks)."""
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
import timm
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import datasets, transforms


def main(root="/datasets/cub200", epochs=40, bs=32):
    dist.init_process_group("nccl")
    rank, local = dist.get_rank(), int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    torch.manual_seed(42 + rank)

    norm = transforms.Normalize([0.5] * 3, [0.5] * 3)
    train_ds = datasets.ImageFolder(f"{root}/train", transforms.Compose(
        [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm]))
    val_ds = datasets.ImageFolder(f"{root}/val", transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm]))
    train_sampler = DistributedSampler(train_ds, shuffle=True)
    val_sampler = DistributedSampler(val_ds, shuffle=False)
    train_dl = DataLoader(train_ds, batch_size=bs, sampler=train_sampler, num_workers=8, pin_memory=True, drop_last=True)
    val_dl = DataLoader(val_ds, batch_size=bs, sampler=val_sampler, num_workers=8, pin_memory=True, drop_last=True)

    model = timm.create_model("vit_base_patch16_224", pretrained=True, num_classes=len(train_ds.classes)).cuda()
    model = DDP(model, device_ids=[local])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5 * dist.get_world_size(), weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    for epoch in range(epochs):
        train_sampler.set_epoch(epoch)
        model.train()
        for x, y in train_dl:
            x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()

        model.eval()
        stats = torch.zeros(2, device="cuda")
        with torch.no_grad():
            for x, y in val_dl:
                x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
                stats[0] += (model(x).argmax(1) == y).sum()
                stats[1] += y.numel()
        dist.all_reduce(stats)
        if rank == 0:
            print(f"epoch {epoch} val acc {(stats[0] / stats[1]).item():.4f}")
            torch.save(model.module.state_dict(), "vit_cub.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
