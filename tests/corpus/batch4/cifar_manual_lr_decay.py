"""VGG-style CIFAR-10 baseline with the step decay from the original paper, written out by hand."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def make_features(cfg):
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers)


class VGG16(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = make_features(CFG)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 512), nn.ReLU(True), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--decay-every", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    norm = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
    train = datasets.CIFAR10("data", train=True, download=True, transform=transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm]))
    test = datasets.CIFAR10("data", train=False, transform=transforms.Compose([transforms.ToTensor(), norm]))
    train_loader = DataLoader(train, batch_size=128, shuffle=True, num_workers=4)
    test_loader = DataLoader(test, batch_size=256, num_workers=4)

    model = VGG16().to(device)
    lr = args.lr
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)

    for epoch in range(args.epochs):
        if epoch > 0 and epoch % args.decay_every == 0:
            lr = lr * 0.5
            print(f"lr decayed to {lr}")
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()

        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
        print(f"epoch {epoch} lr {lr:.5f} test acc {correct / len(test):.4f}")

    torch.save(model.state_dict(), "vgg16_cifar.pt")


if __name__ == "__main__":
    main()
