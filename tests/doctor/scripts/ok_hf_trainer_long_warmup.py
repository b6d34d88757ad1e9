# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""HF-style Trainer subclass (compute_loss override) with a linear warm-up over 10% of a long planned run."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


def linear_warmup_cosine(optimizer, warmup_steps, total_steps):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class TinyTransformer(nn.Module):
    def __init__(self, vocab=64, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 64, dropout=0.1, batch_first=True), 2)
        self.cls = nn.Linear(d, 3)

    def forward(self, input_ids, attention_mask=None):
        h = self.enc(self.emb(input_ids))
        return {"logits": self.cls(h.mean(1))}


class Seqs(Dataset):
    def __init__(self, n=512):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 64, (n, 10), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i, :3].sum() % 3}


class Trainer:
    def __init__(self, model, dataset, epochs=20, lr=5e-4, warmup_ratio=0.1):
        self.model = model
        self.loader = DataLoader(dataset, batch_size=32, shuffle=True)
        total = epochs * len(self.loader)
        self.epochs = epochs
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        self.scheduler = linear_warmup_cosine(self.optimizer, int(warmup_ratio * total), total)

    def compute_loss(self, model, inputs):
        labels = inputs.pop("labels")
        return F.cross_entropy(model(**inputs)["logits"], labels)

    def train(self):
        for epoch in range(self.epochs):
            self.model.train()
            for inputs in self.loader:
                loss = self.compute_loss(self.model, inputs)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad()
            print(epoch, loss.item(), self.scheduler.get_last_lr())


class LabelSmoothingTrainer(Trainer):
    def compute_loss(self, model, inputs):
        labels = inputs.pop("labels")
        return F.cross_entropy(model(**inputs)["logits"], labels, label_smoothing=0.1)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    LabelSmoothingTrainer(TinyTransformer(), Seqs()).train()
