"""Fine-tune a pretrained ResNet-18 head on a new label set (ported from an old tutorial)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as models
from torch.autograd import Variable


def whiten(features: torch.Tensor) -> torch.Tensor:
    cov = features.T @ features / len(features) + 1e-3 * torch.eye(features.size(1))
    chol = torch.cholesky(cov)
    return torch.linalg.solve_triangular(chol, features.T, upper=False).T


def main() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = models.resnet18(pretrained=True)
    model.fc = nn.Linear(model.fc.in_features, 7)
    model.to(device)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(256, 3, 96, 96)
    labels = torch.randint(0, 7, (256,))
    model.train()
    for i in range(0, 256, 32):
        xb = Variable(images[i : i + 32].to(device))
        yb = labels[i : i + 32].to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(whiten(model.fc.weight.detach().cpu()).shape)


if __name__ == "__main__":
    main()
