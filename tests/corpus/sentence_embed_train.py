"""Train a sentence encoder with in-batch negatives; LR reduced on validation plateaus."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from pair_data import PairDataset, collate_pairs
from text_encoder import TextEncoder


def in_batch_nce(a, b, scale=20.0):
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = scale * a @ b.t()  # (B, B)
    labels = torch.arange(a.size(0), device=a.device)
    return F.cross_entropy(logits, labels)


def validate(model, loader, device):
    model.eval()
    total, n = torch.zeros((), device=device), 0
    with torch.inference_mode():
        for anchors, positives in loader:
            anchors = {k: v.to(device) for k, v in anchors.items()}
            positives = {k: v.to(device) for k, v in positives.items()}
            total += in_batch_nce(model(**anchors), model(**positives)) * len(positives["input_ids"])
            n += len(positives["input_ids"])
    return total.item() / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(PairDataset("pairs_train.jsonl"), batch_size=args.batch_size, shuffle=True,
                              collate_fn=collate_pairs, num_workers=4, pin_memory=True, generator=g, drop_last=True)
    val_loader = DataLoader(PairDataset("pairs_val.jsonl"), batch_size=256, collate_fn=collate_pairs, num_workers=4,
                            pin_memory=True)
    model = TextEncoder("minilm-l6").to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.3, patience=1)
    best = float("inf")
    for epoch in range(args.epochs):
        model.train()
        running = torch.zeros((), device=device)
        for step, (anchors, positives) in enumerate(train_loader):
            anchors = {k: v.to(device, non_blocking=True) for k, v in anchors.items()}
            positives = {k: v.to(device, non_blocking=True) for k, v in positives.items()}
            loss = in_batch_nce(model(**anchors), model(**positives))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            running += loss.detach()
            if (step + 1) % 500 == 0:
                print(f"epoch {epoch} step {step + 1}: loss {running.item() / 500:.4f}")
                running.zero_()
        val_loss = validate(model, val_loader, device)
        plateau.step(val_loss)
        print(f"epoch {epoch}: val loss {val_loss:.4f}, lr {optimizer.param_groups[0]['lr']:.2e}")
        if val_loss < best:
            best = val_loss
            torch.save(model.state_dict(), "sentence_encoder_best.pt")


if __name__ == "__main__":
    main()
