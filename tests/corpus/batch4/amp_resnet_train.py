"""ResNet-50 on an ImageFolder dataset with mixed precision."""
import argparse
import time

import torch
import torch.nn as nn
import torchvision
from torchvision import transforms


def get_loaders(root, batch_size, workers):
    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        normalize,
    ])
    val_tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), normalize])
    train_set = torchvision.datasets.ImageFolder(f"{root}/train", train_tf)
    val_set = torchvision.datasets.ImageFolder(f"{root}/val", val_tf)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True, num_workers=workers, pin_memory=True, drop_last=True)
    val_loader = torch.utils.data.DataLoader(
        val_set, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=True)
    return train_loader, val_loader


def train_one_epoch(model, loader, criterion, optimizer, scaler, device, epoch):
    model.train()
    start = time.time()
    for i, (images, target) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16):
            output = model(images)
            loss = criterion(output, target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.step()
        if i % 100 == 0:
            print(f"[{epoch}][{i}/{len(loader)}] loss {loss.item():.3f} {time.time() - start:.1f}s")


@torch.no_grad()
def validate(model, loader, device):
    model.eval()
    correct = 0
    total = 0
    for images, target in loader:
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16):
            output = model(images)
        correct += (output.argmax(1) == target).sum().item()
        total += target.size(0)
    return 100.0 * correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--epochs", default=90, type=int)
    parser.add_argument("-b", "--batch-size", default=256, type=int)
    parser.add_argument("--lr", default=0.1, type=float)
    parser.add_argument("-j", "--workers", default=8, type=int)
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device("cuda")
    model = torchvision.models.resnet50(weights=None).to(device)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = torch.amp.GradScaler("cuda")
    train_loader, val_loader = get_loaders(args.data, args.batch_size, args.workers)

    best = 0.0
    for epoch in range(args.epochs):
        train_one_epoch(model, train_loader, criterion, optimizer, scaler, device, epoch)
        acc = validate(model, val_loader, device)
        scheduler.step()
        print(f"epoch {epoch}: top1 {acc:.2f}")
        if acc > best:
            best = acc
            torch.save({"model": model.state_dict(), "epoch": epoch, "acc": acc}, "best.pth")


if __name__ == "__main__":
    main()
