"""A small recipe class in the torchtune spirit: setup() builds everything, train() runs the loop."""
import math
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader


@dataclass
class RecipeConfig:
    epochs: int = 3
    lr: float = 2e-5
    batch_size: int = 8
    grad_accum: int = 8
    max_norm: float = 1.0
    log_every: int = 10
    seed: int = 1234


class FullFinetuneRecipe:
    def __init__(self, cfg: RecipeConfig, build_model, build_dataset, collate):
        self.cfg = cfg
        self._build_model, self._build_dataset, self._collate = build_model, build_dataset, collate
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.bfloat16 if (torch.cuda.is_available() and
                                        torch.cuda.is_bf16_supported(including_emulation=False)) else torch.float32

    def setup(self):
        torch.manual_seed(self.cfg.seed)
        self.model = self._build_model().to(self.device, dtype=self.dtype)
        self.loader = DataLoader(self._build_dataset(), batch_size=self.cfg.batch_size, shuffle=True,
                                 collate_fn=self._collate, num_workers=4, drop_last=True)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, fused=self.device.type == "cuda")
        steps = self.cfg.epochs * math.ceil(len(self.loader) / self.cfg.grad_accum)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))

    def _loss(self, batch):
        tokens, labels = batch["tokens"].to(self.device), batch["labels"].to(self.device)
        logits = self.model(tokens)
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                                                 labels[:, 1:].reshape(-1), ignore_index=-100)

    def train(self):
        self.model.train()
        accum = self.cfg.grad_accum
        n = len(self.loader)
        step = 0
        for epoch in range(self.cfg.epochs):
            for idx, batch in enumerate(self.loader):
                loss = self._loss(batch) / accum
                loss.backward()
                if (idx + 1) % accum == 0 or idx == n - 1:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    self.scheduler.step()
                    step += 1
                    if step % self.cfg.log_every == 0:
                        print(f"epoch {epoch} step {step} loss {loss.item() * accum:.4f}")
            torch.save(self.model.state_dict(), f"recipe_epoch{epoch}.pt")
