"""Fine-tune a BERT-style encoder for sequence classification with mixed precision."""
import argparse
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup


def set_seed(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode(tokenizer, texts, labels, max_len):
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=max_len, return_tensors="pt")
    return TensorDataset(enc["input_ids"], enc["attention_mask"], torch.tensor(labels))


def evaluate(model, loader, device):
    model.eval()
    correct = torch.zeros((), device=device)
    with torch.inference_mode():
        for input_ids, attention_mask, labels in loader:
            input_ids, attention_mask, labels = input_ids.to(device), attention_mask.to(device), labels.to(device)
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            correct += (logits.argmax(-1) == labels).sum()
    return correct.item() / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="bert-base-uncased")
    parser.add_argument("--data", default="data/sst2.npz")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="checkpoints")
    args = parser.parse_args()
    set_seed(args.seed)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    raw = np.load(args.data, allow_pickle=True)
    train_ds = encode(tokenizer, list(raw["train_text"]), raw["train_label"], 128)
    val_ds = encode(tokenizer, list(raw["val_text"]), raw["val_label"], 128)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, generator=g,
                              pin_memory=device.type == "cuda")
    val_loader = DataLoader(val_ds, batch_size=128, pin_memory=device.type == "cuda")

    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total_steps = len(train_loader) * args.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    scaler = torch.cuda.amp.GradScaler(enabled=device.type == "cuda")

    best_acc = 0.0
    for epoch in range(args.epochs):
        model.train()
        running = torch.zeros((), device=device)
        for step, (input_ids, attention_mask, labels) in enumerate(train_loader):
            input_ids, attention_mask, labels = input_ids.to(device), attention_mask.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.amp.autocast(enabled=device.type == "cuda"):
                loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scheduler.step()
            scaler.step(optimizer)
            scaler.update()
            running += loss.detach()
            if step % 100 == 0:
                print(f"epoch {epoch} step {step} loss {running.item() / (step + 1):.4f}")
        acc = evaluate(model, val_loader, device)
        print(f"epoch {epoch}: val acc {acc:.4f}")
        if acc > best_acc:
            best_acc = acc
            os.makedirs(args.out, exist_ok=True)
            model.save_pretrained(args.out)


if __name__ == "__main__":
    main()
