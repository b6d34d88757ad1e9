# doctor-expect: PT-RUN007
# doctor-args:
# doctor-options:
# doctor-bug: the HF-style Trainer builds its optimizer in __init__; the subclass then resizes the classification head (model.classifier = nn.Linear(..., num_labels)) after super().__init__(): the new head gets gradients but is in no optimizer
"""HF-style Trainer with a `compute_loss` override and dict batches."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Encoder(nn.Module):
    def __init__(self, vocab=50, dim=32, num_labels=2):
        super().__init__()
        self.emb = nn.EmbeddingBag(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, num_labels)

    def forward(self, input_ids, labels=None):
        h = torch.tanh(self.proj(self.emb(input_ids)))
        return {"logits": self.classifier(h)}


class Toks(Dataset):
    def __init__(self, n=320, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 50, (n, 12), generator=g)
        self.labels = self.ids[:, 0] % 4

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


class Trainer:
    def __init__(self, model, train_dataset, lr=3e-3, epochs=2, batch_size=32):
        self.model, self.epochs = model, epochs
        self.loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    def compute_loss(self, model, inputs):
        outputs = model(inputs["input_ids"])
        return F.cross_entropy(outputs["logits"], inputs["labels"])

    def train(self):
        self.model.train()
        for _ in range(self.epochs):
            for inputs in self.loader:
                loss = self.compute_loss(self.model, inputs)
                loss.backward()
                self.optimizer.step()
                self.optimizer.zero_grad()
        return loss.item()


class ClassificationTrainer(Trainer):
    def __init__(self, model, train_dataset, num_labels, **kw):
        super().__init__(model, train_dataset, **kw)
        if model.classifier.out_features != num_labels:
            model.classifier = nn.Linear(model.classifier.in_features, num_labels)

    def compute_loss(self, model, inputs):
        loss = super().compute_loss(model, inputs)
        return loss + 1e-4 * sum(p.pow(2).sum() for p in model.proj.parameters())


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    print(ClassificationTrainer(Encoder(), Toks(), num_labels=4).train())
