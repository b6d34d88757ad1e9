# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Frozen backbone done right: requires_grad_(False) on it, the optimizer over the trainable parameters only."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(20, 64), nn.GELU(), nn.LayerNorm(64), nn.Linear(64, 64), nn.GELU())

    def forward(self, x):
        return self.layers(x)


class Classifier(nn.Module):
    def __init__(self, backbone, n_classes):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(64, n_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.backbone(x)))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Classifier(Backbone(), 4)
    model.backbone.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=0.01)
    x = torch.randn(384, 20)
    y = x[:, :4].argmax(-1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    print(f"training {sum(p.numel() for p in trainable)} of {sum(p.numel() for p in model.parameters())} weights")
    for epoch in range(2):
        model.train()
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
