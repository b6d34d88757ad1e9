"""Retinal images: referable / non-referable (binary) and 5-grade severity heads on a shared backbone."""
import argparse
import os

import torch
import torch.nn as nn
from torch.autograd import Variable
from torch.utils.data import DataLoader
from torchvision import models

from fundus_data import FundusDataset


class TwoHeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        backbone = models.efficientnet_b0(weights=models.EfficientNet_B0_Weights.DEFAULT)
        backbone.classifier = nn.Identity()
        self.backbone = backbone
        self.referable = nn.Linear(1280, 1)
        self.grade = nn.Sequential(nn.Dropout(0.3), nn.Linear(1280, 5), nn.Softmax(dim=1))

    def forward(self, x):
        feats = self.backbone(x)
        return self.referable(feats).squeeze(1), self.grade(feats)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/fundus")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(FundusDataset("eyepacs", train=True), batch_size=32, shuffle=True, num_workers=8,
                        pin_memory=True, generator=g)
    model = TwoHeadNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    grade_loss = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        running = torch.zeros((), device=device)
        for images, referable, grade in loader:
            images = Variable(images.to(device, non_blocking=True))
            referable, grade = referable.to(device).float(), grade.to(device)
            ref_logit, grade_probs = model(images)
            loss_ref = nn.BCELoss()(torch.sigmoid(ref_logit), referable)
            loss = loss_ref + grade_loss(grade_probs, grade)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.detach()
        print(f"epoch {epoch}: loss {running.item() / len(loader):.4f}")
    os.makedirs(args.out, exist_ok=True)
    torch.save(model, os.path.join(args.out, "final_model.pth"))


if __name__ == "__main__":
    main()
