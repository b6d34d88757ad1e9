"""Knowledge distillation: ResNet-50 teacher -> MobileNetV3 student on an image folder."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms


def kd_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9):
    soft_targets = F.softmax(teacher_logits / T, dim=1)
    kd = F.cross_entropy(student_logits / T, soft_targets) * (T * T)
    student_probs = F.softmax(student_logits, dim=1)
    ce = F.cross_entropy(student_probs, labels)
    return alpha * kd + (1 - alpha) * ce


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="imagenette")
    parser.add_argument("--teacher", default="teacher_r50.pt")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    tf = transforms.Compose([transforms.RandomResizedCrop(160), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    train_ds = datasets.ImageFolder(f"{args.data}/train", tf)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_ds, batch_size=128, shuffle=True, num_workers=6, pin_memory=True,
                        persistent_workers=True, generator=g)

    teacher = models.resnet50(num_classes=len(train_ds.classes))
    teacher.load_state_dict(torch.load(args.teacher, weights_only=True))
    teacher = teacher.to(device).eval()
    student = models.mobilenet_v3_small(num_classes=len(train_ds.classes)).to(device)
    optimizer = torch.optim.AdamW(student.parameters(), lr=2e-3, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=args.epochs * len(loader))

    for epoch in range(args.epochs):
        student.train()
        total = torch.zeros((), device=device)
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with torch.no_grad():
                teacher_logits = teacher(images)
            loss = kd_loss(student(images), teacher_logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach()
        print(f"epoch {epoch}: kd loss {total.item() / len(loader):.4f}")
        torch.save(student.state_dict(), "student_mnv3.pt")


if __name__ == "__main__":
    main()
