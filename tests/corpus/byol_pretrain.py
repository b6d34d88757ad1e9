"""BYOL-style self-supervised pre-training (online/target networks, BatchNorm1d projector)."""
import argparse
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable
from torch.utils.data import DataLoader
from torch.utils.data._utils.collate import default_collate
from torchvision import datasets, models, transforms


def mlp(d_in, d_hidden=4096, d_out=256):
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.BatchNorm1d(d_hidden), nn.ReLU(inplace=True),
                         nn.Linear(d_hidden, d_out))


class TwoCrops:
    def __init__(self, tf):
        self.tf = tf

    def __call__(self, img):
        return self.tf(img), self.tf(img)


def collate_views(batch):
    (v1, v2), labels = zip(*[((a, b), y) for (a, b), y in batch])
    return default_collate(list(v1)), default_collate(list(v2)), default_collate(list(labels))


def byol_loss(p, z):
    return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="stl10_unlabeled")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--tau", type=float, default=0.996)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    aug = transforms.Compose([transforms.RandomResizedCrop(96), transforms.RandomHorizontalFlip(),
                              transforms.ColorJitter(0.4, 0.4, 0.2, 0.1), transforms.ToTensor()])
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(datasets.ImageFolder(args.data, TwoCrops(aug)), batch_size=256, shuffle=True, num_workers=8,
                        pin_memory=True, collate_fn=collate_views, generator=g)
    backbone = models.resnet18()
    backbone.fc = nn.Identity()
    online = nn.Sequential(backbone, mlp(512)).to(device)
    predictor = mlp(256, 1024, 256).to(device)
    target = copy.deepcopy(online).requires_grad_(False)
    optimizer = torch.optim.AdamW(list(online.parameters()) + list(predictor.parameters()), lr=2e-3, weight_decay=1e-6)

    for epoch in range(args.epochs):
        online.train()
        predictor.train()
        total = torch.zeros((), device=device)
        for v1, v2, _ in loader:
            v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
            with torch.no_grad():
                t1, t2 = target(v1), target(v2)
            loss = byol_loss(predictor(online(v1)), t2) + byol_loss(predictor(online(v2)), t1)
            loss = Variable(loss.data, requires_grad=True)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for pt, po in zip(target.parameters(), online.parameters()):
                    pt.mul_(args.tau).add_(po, alpha=1 - args.tau)
            total += loss.detach()
        print(f"epoch {epoch}: byol loss {total.item() / len(loader):.4f}")
        torch.save(online[0].state_dict(), "byol_resnet18.pt")


if __name__ == "__main__":
    main()
