"""A reusable trainer used by several of our image experiments (configs in experiments/*.yaml)."""
import logging
import time

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


class ClassifierTrainer:
    def __init__(self, model, optimizer, scheduler=None, device="cuda", amp=True, clip=None, log_every=50):
        self.model = model.to(device)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.device = device
        self.amp = amp
        self.clip = clip
        self.log_every = log_every
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.global_step = 0

    def _forward(self, images, labels):
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            logits = self.model(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        return logits, loss

    def train_step(self, images, labels):
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        _, loss = self._forward(images, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.scaler.step(self.optimizer)
        if self.scheduler is not None:
            self.scheduler.step()
        self.global_step += 1
        return loss.detach()

    def train_epoch(self, loader, epoch):
        self.model.train()
        t0 = time.time()
        for i, (images, labels) in enumerate(loader):
            loss = self.train_step(images, labels)
            if i % self.log_every == 0:
                logger.info("epoch %d it %d loss %.4f (%.1f it/s)", epoch, i, loss.item(), (i + 1) / (time.time() - t0))

    @torch.no_grad()
    def evaluate(self, loader):
        self.model.eval()
        correct = total = 0
        for images, labels in loader:
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            logits, _ = self._forward(images, labels)
            correct += (logits.argmax(1) == labels).sum().item()
            total += labels.numel()
        return correct / total

    def fit(self, train_loader, val_loader, epochs):
        best = 0.0
        for epoch in range(epochs):
            self.train_epoch(train_loader, epoch)
            acc = self.evaluate(val_loader)
            logger.info("epoch %d val acc %.4f", epoch, acc)
            if acc > best:
                best = acc
                torch.save(self.model.state_dict(), "best_classifier.pt")
        return best
