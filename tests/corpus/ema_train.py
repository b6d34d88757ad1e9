"""Image classification with an exponential moving average of the weights; the EMA copy is validated."""
import copy

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


class ModelEMA:
    def __init__(self, model, decay=0.9998):
        self.module = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        for ema_v, model_v in zip(self.module.state_dict().values(), model.state_dict().values()):
            if ema_v.dtype.is_floating_point:
                ema_v.mul_(self.decay).add_(model_v.detach(), alpha=1 - self.decay)
            else:
                ema_v.copy_(model_v)


@torch.no_grad()
def validate(net, loader, device):
    net.eval()
    correct = torch.zeros((), device=device)
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        correct += (net(x).argmax(1) == y).sum()
    return correct.item() / len(loader.dataset)


if __name__ == "__main__":
    torch.manual_seed(3)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf_train = transforms.Compose([transforms.RandomResizedCrop(128), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    tf_val = transforms.Compose([transforms.Resize(146), transforms.CenterCrop(128), transforms.ToTensor()])
    g = torch.Generator().manual_seed(3)
    train_loader = DataLoader(datasets.Flowers102("data", split="train", transform=tf_train, download=True),
                              batch_size=64, shuffle=True, num_workers=6, pin_memory=True, drop_last=True, generator=g)
    val_loader = DataLoader(datasets.Flowers102("data", split="val", transform=tf_val, download=True),
                            batch_size=128, num_workers=6, pin_memory=True)
    model = models.resnet34(num_classes=102).to(device)
    ema = ModelEMA(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-5)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=60 * len(train_loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    model.train()
    for epoch in range(60):
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            ema.update(model)
        acc = validate(ema.module, val_loader, device)
        print(f"epoch {epoch}: EMA val acc {acc:.4f}")
    torch.save(ema.module.state_dict(), "resnet34_flowers_ema.pt")
