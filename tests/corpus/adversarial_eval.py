"""Robustness evaluation: clean and FGSM / PGD accuracy of a trained CIFAR-10 classifier."""
import argparse

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from cifar_models import build_model


def fgsm(model, x, y, eps):
    x_adv = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x_adv), y)
    grad, = torch.autograd.grad(loss, x_adv)
    return (x_adv + eps * grad.sign()).clamp(0, 1).detach()


def pgd(model, x, y, eps, alpha, steps):
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def evaluate_robustness(model, loader, device, eps=8 / 255):
    model.eval()
    correct = {"clean": 0, "fgsm": 0, "pgd": 0}
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            correct["clean"] += (model(x).argmax(1) == y).sum().item()
        x_fgsm = fgsm(model, x, y, eps)
        x_pgd = pgd(model, x, y, eps, alpha=2 / 255, steps=10)
        with torch.no_grad():
            correct["fgsm"] += (model(x_fgsm).argmax(1) == y).sum().item()
            correct["pgd"] += (model(x_pgd).argmax(1) == y).sum().item()
    n = len(loader.dataset)
    return {k: v / n for k, v in correct.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--arch", default="wrn28_10")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    test_set = datasets.CIFAR10("data", train=False, download=True, transform=transforms.ToTensor())
    subset = torch.utils.data.Subset(test_set, range(args.n))
    loader = DataLoader(subset, batch_size=200, num_workers=4, pin_memory=device.type == "cuda")
    model = build_model(args.arch)
    model.load_state_dict(torch.load(args.weights, map_location=device, weights_only=True))
    model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    for name, acc in evaluate_robustness(model, loader, device).items():
        print(f"{name:>6s} accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
