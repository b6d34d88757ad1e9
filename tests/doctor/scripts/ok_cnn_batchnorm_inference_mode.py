# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Small CNN with batch-norm; validation with model.eval() under torch.inference_mode()."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_images(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 10, 10, generator=g)
    y = (x[:, :, :, :5].mean((1, 2, 3)) > x[:, :, :, 5:].mean((1, 2, 3))).long()
    return TensorDataset(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.block(x))


def validate(model, loader):
    model.eval()
    with torch.inference_mode():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
    return correct / len(loader.dataset)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = DataLoader(make_images(192, 0), batch_size=16, shuffle=True)
    val = DataLoader(make_images(64, 1), batch_size=32, shuffle=False)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    for epoch in range(3):
        model.train()
        for x, y in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        print(f"epoch {epoch} val acc {validate(model, val):.3f}")
