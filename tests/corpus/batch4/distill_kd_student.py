"""Knowledge distillation: ResNet-50 teacher -> MobileNetV3 student (Hinton KD + CE)."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def kd_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits / T, dim=1),
                    reduction="batchmean") * (T * T)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard


def top1(model, loader, device):
    model.eval()
    correct = n = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(1) == y).sum().item()
            n += y.numel()
    return correct / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/imagenette")
    ap.add_argument("--teacher", default="teacher_r50.pt")
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_dl = DataLoader(datasets.ImageFolder(f"{args.data}/train", transforms.Compose(
        [transforms.RandomResizedCrop(160), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])),
        batch_size=128, shuffle=True, num_workers=8, pin_memory=True)
    val_dl = DataLoader(datasets.ImageFolder(f"{args.data}/val", transforms.Compose(
        [transforms.Resize(182), transforms.CenterCrop(160), transforms.ToTensor(), norm])),
        batch_size=256, num_workers=8, pin_memory=True)

    teacher = models.resnet50(num_classes=10)
    teacher.load_state_dict(torch.load(args.teacher, map_location="cpu", weights_only=True))
    teacher = teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    student = models.mobilenet_v3_small(num_classes=10).to(device)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(train_dl))

    print("teacher top1", top1(teacher, val_dl, device))
    for epoch in range(args.epochs):
        student.train()
        for x, y in train_dl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.no_grad():
                t_logits = teacher(x)
            loss = kd_loss(student(x), t_logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch} student top1 {top1(student, val_dl, device):.4f}")
    torch.save(student.state_dict(), "student_mnv3.pt")


if __name__ == "__main__":
    main()
