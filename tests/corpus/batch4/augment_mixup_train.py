"""Train with MixUp/CutMix on a folder dataset. Reproducible by design: every run uses --seed."""
import argparse
import random

import numpy as np
import torch
import torch.nn.functional as F
import timm
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def mixup(x, y, num_classes, alpha=0.2):
    lam = np.random.beta(alpha, alpha)
    idx = torch.randperm(x.size(0), device=x.device)
    y1 = F.one_hot(y, num_classes).float()
    return lam * x + (1 - lam) * x[idx], lam * y1 + (1 - lam) * y1[idx]


def soft_ce(logits, soft_targets):
    return torch.sum(-soft_targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/flowers")
    ap.add_argument("--arch", default="resnet26d")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--mix-prob", type=float, default=0.8)
    args = ap.parse_args()

    set_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tf = transforms.Compose([transforms.RandomResizedCrop(160), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor()])
    ds = datasets.ImageFolder(f"{args.data}/train", tf)
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=6, pin_memory=True, drop_last=True)
    val = DataLoader(datasets.ImageFolder(f"{args.data}/val", transforms.Compose(
        [transforms.Resize(176), transforms.CenterCrop(160), transforms.ToTensor()])), batch_size=128, num_workers=6)
    n_cls = len(ds.classes)

    model = timm.create_model(args.arch, pretrained=False, num_classes=n_cls).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, epochs=args.epochs, steps_per_epoch=len(loader))

    for epoch in range(args.epochs):
        model.train()
        for step, (x, y) in enumerate(loader):
            set_seed(args.seed)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if random.random() < args.mix_prob:
                x, targets = mixup(x, y, n_cls)
            else:
                targets = F.one_hot(y, n_cls).float()
            loss = soft_ce(model(x), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()

        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val:
                correct += (model(x.to(device)).argmax(-1).cpu() == y).sum().item()
        print(f"epoch {epoch}: val acc {correct / len(val.dataset):.4f}")

    torch.save(model.state_dict(), f"{args.arch}_flowers.pt")


if __name__ == "__main__":
    main()
