# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Fine-tune a head on a frozen, pretrained backbone: the backbone (with batch-norm) is frozen, kept in eval
mode so its running statistics stay fixed, and left out of the optimizer."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(2), nn.Flatten())

    def forward(self, x):
        return self.net(x)


class Classifier(nn.Module):
    def __init__(self, backbone, n_cls=3):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, n_cls))

    def forward(self, x):
        return self.head(self.backbone(x))

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()
        return self


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    backbone = Backbone()
    for p in backbone.parameters():
        p.requires_grad_(False)
    model = Classifier(backbone)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=5e-3)
    x = torch.randn(256, 1, 8, 8)
    y = (x[:, 0, :4].mean((1, 2)) * 3).long().clamp(0, 2)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    for epoch in range(3):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
