import math

import torch
import torch.nn.functional as F


class AccumTrainer:
    """Plain-PyTorch trainer with gradient accumulation and a last partial window."""

    def __init__(self, model, optimizer, scheduler, train_loader, accum_steps=4, max_norm=1.0, device="cpu"):
        self.model = model.to(device)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loader = train_loader
        self.accum_steps = accum_steps
        self.max_norm = max_norm
        self.device = device
        self.updates = 0

    def _loss(self, batch):
        inputs, targets = (t.to(self.device) for t in batch)
        return F.cross_entropy(self.model(inputs), targets)

    def train_epoch(self):
        self.model.train()
        n = len(self.train_loader)
        self.optimizer.zero_grad(set_to_none=True)
        running = 0.0
        for i, batch in enumerate(self.train_loader):
            loss = self._loss(batch)
            (loss / self.accum_steps).backward()
            running += loss.item()
            last = i + 1 == n
            if (i + 1) % self.accum_steps == 0 or last:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.updates += 1
        return running / n

    @torch.no_grad()
    def evaluate(self, loader):
        self.model.eval()
        total, correct, count = 0.0, 0, 0
        for inputs, targets in loader:
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            logits = self.model(inputs)
            total += F.cross_entropy(logits, targets, reduction="sum").item()
            correct += (logits.argmax(-1) == targets).sum().item()
            count += targets.numel()
        return total / count, correct / count


def build(model, train_loader, epochs, accum_steps, lr=3e-4):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    updates_per_epoch = math.ceil(len(train_loader) / accum_steps)
    total = epochs * updates_per_epoch
    warm = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda u: min((u + 1) / warm, 0.5 * (1 + math.cos(math.pi * min(u, total) / total))))
    return optimizer, scheduler


if __name__ == "__main__":
    from torch.utils.data import DataLoader
    from toy import make_dataset, make_model  # local

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_ds, val_ds = make_dataset()
    train_loader = DataLoader(train_ds, batch_size=16, shuffle=True, num_workers=2)
    val_loader = DataLoader(val_ds, batch_size=64, num_workers=2)
    model = make_model()
    opt, sched = build(model, train_loader, epochs=10, accum_steps=4)
    trainer = AccumTrainer(model, opt, sched, train_loader, accum_steps=4, device=device)
    for epoch in range(10):
        tl = trainer.train_epoch()
        vl, va = trainer.evaluate(val_loader)
        print(f"epoch {epoch}: train {tl:.4f} val {vl:.4f} acc {va:.4f} updates {trainer.updates}")
