# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Hugging Face-style model: batches are dicts, the model returns a dict holding the loss."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class PairDataset(Dataset):
    def __init__(self, n, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(1, 30, (n, 10), generator=g)
        self.attention_mask = (torch.rand(n, 10, generator=g) > 0.2).long()
        self.labels = ((self.input_ids > 15).float().mean(1) > 0.5).long()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i], "labels": self.labels[i]}


class SeqClassifier(nn.Module):
    def __init__(self, vocab=30, dim=24):
        super().__init__()
        self.embeddings = nn.Embedding(vocab, dim)
        self.pre_classifier = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(dim, 2)

    def forward(self, input_ids, attention_mask, labels=None):
        h = self.embeddings(input_ids) * attention_mask.unsqueeze(-1)
        pooled = h.sum(1) / attention_mask.sum(1, keepdim=True).clamp(min=1)
        logits = self.classifier(self.dropout(torch.tanh(self.pre_classifier(pooled))))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(PairDataset(320), batch_size=16, shuffle=True)
    model = SeqClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.01)
    model.train()
    for epoch in range(2):
        for step, batch in enumerate(loader):
            outputs = model(**batch)
            outputs["loss"].backward()
            opt.step()
            opt.zero_grad()
            if step % 10 == 0:
                print(f"epoch {epoch} step {step} loss {outputs['loss'].item():.4f}")
