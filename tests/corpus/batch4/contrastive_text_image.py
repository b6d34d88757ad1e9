"""Tiny CLIP-style contrastive training on caption/image pairs with a learnable temperature."""
import argparse
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import models, transforms


class Pairs(Dataset):
    def __init__(self, jsonl, tokenizer, tf):
        with open(jsonl) as f:
            self.rows = [json.loads(l) for l in f]
        self.tok, self.tf = tokenizer, tf

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        r = self.rows[i]
        ids = self.tok(r["caption"])[:64]
        ids = ids + [0] * (64 - len(ids))
        return self.tf(Image.open(r["image"]).convert("RGB")), torch.tensor(ids)


class TextEncoder(nn.Module):
    def __init__(self, vocab=30000, d=512):
        super().__init__()
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        layer = nn.TransformerEncoderLayer(d, 8, 2048, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 4)

    def forward(self, ids):
        h = self.enc(self.emb(ids), src_key_padding_mask=ids == 0)
        mask = (ids != 0).unsqueeze(-1).float()
        return (h * mask).sum(1) / mask.sum(1).clamp(min=1)


class Clip(nn.Module):
    def __init__(self, d=512):
        super().__init__()
        self.image = models.resnet50(weights=None)
        self.image.fc = nn.Linear(2048, d)
        self.text = TextEncoder(d=d)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))

    def forward(self, images, ids):
        i = F.normalize(self.image(images), dim=-1)
        t = F.normalize(self.text(ids), dim=-1)
        return self.logit_scale.exp().clamp(max=100) * i @ t.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/pairs.jsonl")
    ap.add_argument("--epochs", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    from simple_tok import tokenize  # local

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([transforms.RandomResizedCrop(224, scale=(0.9, 1.0)), transforms.ToTensor()])
    loader = DataLoader(Pairs(args.data, tokenize, tf), batch_size=256, shuffle=True, num_workers=8, drop_last=True)
    model = Clip().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.2)
    for epoch in range(args.epochs):
        model.train()
        for images, ids in loader:
            images, ids = images.to(device), ids.to(device)
            logits = model(images, ids)
            labels = torch.arange(logits.size(0), device=device)
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f} temperature {1 / model.logit_scale.exp().item():.4f}")
        torch.save(model.state_dict(), "clip_small.pt")


if __name__ == "__main__":
    main()
