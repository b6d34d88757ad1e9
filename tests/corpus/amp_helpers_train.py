"""Keypoint regression with AMP; the optimisation step lives in a helper shared with other scripts."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from keypoint_data import KeypointDataset

# fixed 17-joint skeleton: (child, parent) pairs as a constant (17, 2) table
SKELETON = torch.arange(34).view(17, 2) % 17


def optimizer_step(model, optimizer, scaler, loss, max_norm):
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    return grad_norm


class KeypointHead(nn.Module):
    def __init__(self, backbone, n_joints=17, c=256):
        super().__init__()
        self.backbone = backbone
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2048, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(c, n_joints, 1)

    def forward(self, x):
        return self.out(self.deconv(self.backbone(x)))  # (B, J, H/8, W/8) heatmaps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=140)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(KeypointDataset("coco_kpts", train=True), batch_size=32, shuffle=True, num_workers=8,
                        pin_memory=True, drop_last=True, generator=g)
    from torchvision.models import resnet50

    backbone = nn.Sequential(*list(resnet50(weights=None).children())[:-2])
    model = KeypointHead(backbone).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    for epoch in range(args.epochs):
        model.train()
        norm_sum = torch.zeros((), device=device)
        for images, heatmaps, weights in loader:
            images = images.to(device, non_blocking=True)
            heatmaps, weights = heatmaps.to(device, non_blocking=True), weights.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                pred = model(images)
                loss = ((pred - heatmaps) ** 2 * weights[:, :, None, None]).mean()
            norm_sum += optimizer_step(model, optimizer, scaler, loss, max_norm=5.0)
        print(f"epoch {epoch}: mean grad norm {norm_sum.item() / len(loader):.3f}")
        torch.save(model.state_dict(), "simple_baseline_kpts.pt")


if __name__ == "__main__":
    main()
