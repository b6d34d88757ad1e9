"""Linear probe / fine-tune of a ResNet-50 initialised from a self-supervised (MoCo-style) checkpoint."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def load_ssl_weights(model, path):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    cleaned = {}
    for k, v in state.items():
        if k.startswith("module.encoder_q.") and not k.startswith("module.encoder_q.fc"):
            cleaned[k[len("module.encoder_q."):]] = v
    model.load_state_dict(cleaned, strict=False)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/datasets/imagenet100")
    ap.add_argument("--ssl-ckpt", default="moco_v2_800ep.pth.tar")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--lr", type=float, default=30.0)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model = models.resnet50(num_classes=100)
    model = load_ssl_weights(model, args.ssl_ckpt)
    for name, p in model.named_parameters():
        if not name.startswith("fc."):
            p.requires_grad = False
    nn.init.normal_(model.fc.weight, std=0.01)
    nn.init.zeros_(model.fc.bias)
    model = model.to(device)

    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_dl = DataLoader(datasets.ImageFolder(f"{args.data}/train", transforms.Compose(
        [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])),
        batch_size=256, shuffle=True, num_workers=16, pin_memory=True)
    val_dl = DataLoader(datasets.ImageFolder(f"{args.data}/val", transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm])),
        batch_size=256, num_workers=16, pin_memory=True)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[60, 80], gamma=0.1)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        model.eval()  # linear probe: the frozen backbone keeps its BN statistics
        for images, target in train_dl:
            images, target = images.to(device, non_blocking=True), target.to(device, non_blocking=True)
            loss = criterion(model(images), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()

        correct = total = 0
        with torch.no_grad():
            for images, target in val_dl:
                images, target = images.to(device, non_blocking=True), target.to(device, non_blocking=True)
                correct += (model(images).argmax(1) == target).sum().item()
                total += target.numel()
        print(f"epoch {epoch} top1 {100.0 * correct / total:.2f}")
    torch.save(model.fc.state_dict(), "linear_probe_fc.pth")


if __name__ == "__main__":
    main()
