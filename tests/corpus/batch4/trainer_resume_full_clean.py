"""Epoch trainer with AMP and an exact resume: weights, optimizer, scheduler, scaler, next epoch."""
import os

import torch
import torch.nn.functional as F


class AmpTrainer:
    def __init__(self, model, optimizer, scheduler, loaders, out_dir, device="cuda"):
        self.model = model.to(device)
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_loader, self.val_loader = loaders
        self.device = device
        self.use_amp = device == "cuda" and torch.cuda.is_available()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.path = os.path.join(out_dir, "last.pt")
        os.makedirs(out_dir, exist_ok=True)
        self.epoch = 0

    def state(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "next_epoch": self.epoch + 1}

    def resume(self):
        if os.path.exists(self.path):
            ck = torch.load(self.path, map_location=self.device, weights_only=True)
            self.model.load_state_dict(ck["model"])
            self.optimizer.load_state_dict(ck["optimizer"])
            self.scheduler.load_state_dict(ck["scheduler"])
            self.scaler.load_state_dict(ck["scaler"])
            return ck["next_epoch"]
        return 0

    def run_epoch(self):
        self.model.train()
        for x, y in self.train_loader:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
                loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 2.0)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.scheduler.step()

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        hits = n = 0
        for x, y in self.val_loader:
            x, y = x.to(self.device), y.to(self.device)
            hits += (self.model(x).argmax(-1) == y).sum().item()
            n += y.numel()
        return hits / n

    def fit(self, epochs):
        for self.epoch in range(self.resume(), epochs):
            self.run_epoch()
            acc = self.evaluate()
            print(f"epoch {self.epoch} acc {acc:.4f}")
            torch.save(self.state(), self.path)
