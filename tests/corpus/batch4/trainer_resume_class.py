"""Generic epoch-based trainer with checkpoint/resume, used by train_*.py entry points."""
import os

import torch
import torch.nn.functional as F


class Trainer:
    def __init__(self, model, optimizer, scheduler, train_loader, val_loader, out_dir, device="cpu"):
        self.model = model.to(device)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.out_dir = out_dir
        self.device = device
        self.start_epoch = 0
        self.best = 0.0
        os.makedirs(out_dir, exist_ok=True)

    @property
    def ckpt_path(self):
        return os.path.join(self.out_dir, "last.pt")

    def save(self, epoch):
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "epoch": epoch, "best": self.best}, self.ckpt_path)

    def maybe_resume(self):
        if not os.path.exists(self.ckpt_path):
            return
        ckpt = torch.load(self.ckpt_path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.start_epoch = ckpt["epoch"]
        self.best = ckpt["best"]
        print(f"resumed from {self.ckpt_path} (epoch {ckpt['epoch']})")

    def train_epoch(self):
        self.model.train()
        for x, y in self.train_loader:
            x, y = x.to(self.device), y.to(self.device)
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.scheduler.step()

    @torch.no_grad()
    def validate(self):
        self.model.eval()
        correct = total = 0
        for x, y in self.val_loader:
            x, y = x.to(self.device), y.to(self.device)
            correct += (self.model(x).argmax(1) == y).sum().item()
            total += y.numel()
        return correct / total

    def fit(self, epochs):
        self.maybe_resume()
        for epoch in range(self.start_epoch, epochs):
            self.train_epoch()
            acc = self.validate()
            self.best = max(self.best, acc)
            print(f"epoch {epoch}: acc {acc:.4f} (best {self.best:.4f})")
            self.save(epoch)
        return self.best
