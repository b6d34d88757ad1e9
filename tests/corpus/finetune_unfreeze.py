"""Two-stage fine-tuning: train the new head, then unfreeze the backbone with a fresh optimizer."""
import argparse

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, models, transforms

from common.reproducibility import seed_everything


def evaluate(model, loader, device):
    """Accuracy of `model`; the caller is responsible for putting it in eval mode."""
    correct = torch.zeros((), device=device)
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            correct += (model(x).argmax(1) == y).sum()
    return correct.item() / len(loader.dataset)


def make_optimizer(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="birds")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--unfreeze-at", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    full = datasets.ImageFolder(args.data, tf)
    idx = np.arange(len(full))
    np.random.shuffle(idx)
    n_val = len(idx) // 10
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(Subset(full, idx[n_val:].tolist()), batch_size=32, shuffle=True, num_workers=4,
                              pin_memory=device.type == "cuda", generator=g)
    val_loader = DataLoader(Subset(full, idx[:n_val].tolist()), batch_size=64, num_workers=4,
                            pin_memory=device.type == "cuda")

    model = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V2)
    model.fc = nn.Linear(model.fc.in_features, len(full.classes))
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    model.to(device)
    optimizer = make_optimizer(model.fc.parameters(), lr=1e-2)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        if epoch == args.unfreeze_at:
            model.requires_grad_(True)
            optimizer = make_optimizer(model.parameters(), lr=1e-3)
        model.train()
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            for p in model.parameters():
                p.grad = None
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        print(f"epoch {epoch}: val acc {evaluate(model, val_loader, device):.4f}")
    torch.save(model.state_dict(), "resnet50_birds.pt")


if __name__ == "__main__":
    main()
