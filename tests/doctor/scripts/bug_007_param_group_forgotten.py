# doctor-expect: PT-RUN007
# doctor-args:
# doctor-options:
# doctor-bug: the discriminative-LR param groups list backbone and head but forget the neck: the neck's parameters get gradients and are in no optimizer, so they never change
"""Backbone / neck / head model with per-part learning rates."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv1d(2, 8, 5, padding=2), nn.ReLU())
        self.neck = nn.Sequential(nn.Conv1d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        h = self.neck(self.backbone(x))
        return self.head(h.mean(-1))


def param_groups(model, base_lr):
    return [
        {"params": model.backbone.parameters(), "lr": base_lr * 0.1},
        {"params": model.head.parameters(), "lr": base_lr},
    ]


def sample(bs, gen):
    x = torch.randn(bs, 2, 40, generator=gen)
    y = (x[:, 0, :20].mean(1) > x[:, 1, 20:].mean(1)).long()
    return x, y


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(3)
    model = Detector()
    opt = torch.optim.AdamW(param_groups(model, 3e-3), weight_decay=0.05)
    for step in range(30):
        x, y = sample(16, gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(step, round(loss.item(), 4))
