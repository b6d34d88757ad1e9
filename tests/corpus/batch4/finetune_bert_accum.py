import math
import os

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
from datasets import load_dataset

MODEL_NAME = os.environ.get("MODEL_NAME", "bert-base-uncased")
BATCH_SIZE = 8
GRAD_ACCUM = 4
EPOCHS = 3
LR = 2e-5
MAX_LEN = 256

torch.manual_seed(1234)
device = "cuda" if torch.cuda.is_available() else "cpu"

tokenizer = AutoTokenizer.from_pretrained(MODEL_NAME)
raw = load_dataset("imdb")


def tokenize(batch):
    return tokenizer(batch["text"], truncation=True, max_length=MAX_LEN, padding="max_length")


encoded = raw.map(tokenize, batched=True, remove_columns=["text"])
encoded = encoded.rename_column("label", "labels")
encoded.set_format("torch")

train_loader = DataLoader(encoded["train"], batch_size=BATCH_SIZE, shuffle=True, num_workers=2, pin_memory=True)
eval_loader = DataLoader(encoded["test"], batch_size=32, num_workers=2, pin_memory=True)

model = AutoModelForSequenceClassification.from_pretrained(MODEL_NAME, num_labels=2).to(device)

no_decay = ["bias", "LayerNorm.weight"]
grouped = [
    {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
    {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
]
optimizer = torch.optim.AdamW(grouped, lr=LR)
updates_per_epoch = math.ceil(len(train_loader) / GRAD_ACCUM)
scheduler = get_linear_schedule_with_warmup(optimizer, int(0.06 * updates_per_epoch * EPOCHS), updates_per_epoch * EPOCHS)


def evaluate():
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in eval_loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(**batch).logits
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
            total += batch["labels"].numel()
    model.train()
    return correct / total


global_step = 0
model.train()
for epoch in range(EPOCHS):
    for step, batch in enumerate(train_loader):
        batch = {k: v.to(device) for k, v in batch.items()}
        outputs = model(**batch)
        loss = outputs.loss / GRAD_ACCUM
        loss.backward()

        if step % GRAD_ACCUM == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            global_step += 1

        if global_step and global_step % 200 == 0:
            print(f"step {global_step} loss {loss.item() * GRAD_ACCUM:.4f}")

    acc = evaluate()
    print(f"epoch {epoch} eval acc {acc:.4f}")
    model.save_pretrained(f"checkpoints/epoch-{epoch}")
    tokenizer.save_pretrained(f"checkpoints/epoch-{epoch}")
