import argparse
import math

import torch
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, T5ForConditionalGeneration
from datasets import load_dataset


def build_loader(tokenizer, split, batch_size, shuffle):
    ds = load_dataset("cnn_dailymail", "3.0.0", split=split)

    def prep(ex):
        enc = tokenizer(["summarize: " + a for a in ex["article"]], max_length=512, truncation=True,
                        padding="max_length")
        lab = tokenizer(ex["highlights"], max_length=128, truncation=True, padding="max_length")
        enc["labels"] = [[t if t != tokenizer.pad_token_id else -100 for t in seq] for seq in lab["input_ids"]]
        return enc

    ds = ds.map(prep, batched=True, remove_columns=ds.column_names)
    ds.set_format("torch")
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=4, pin_memory=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="t5-small")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--bs", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    args = p.parse_args()

    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tok = AutoTokenizer.from_pretrained(args.model)
    model = T5ForConditionalGeneration.from_pretrained(args.model).to(device)
    train_loader = build_loader(tok, "train[:5%]", args.bs, shuffle=True)
    val_loader = build_loader(tok, "validation[:1000]", 32, shuffle=False)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    scaler = torch.amp.GradScaler("cuda")
    total_steps = args.epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, s / 500) * max(0.0, 1 - s / total_steps))

    for epoch in range(args.epochs):
        model.train()
        for step, batch in enumerate(train_loader):
            batch = {k: v.to(device) for k, v in batch.items()}
            outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            decoder_input_ids=model._shift_right(batch["labels"].clamp(min=0)))
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                loss = torch.nn.functional.cross_entropy(
                    outputs.logits.view(-1, outputs.logits.size(-1)), batch["labels"].view(-1), ignore_index=-100)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if step % 500 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.4f}")

        model.eval()
        val_loss, n = 0.0, 0
        with torch.no_grad():
            for batch in val_loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                val_loss += model(**batch).loss.item()
                n += 1
        print(f"epoch {epoch} val loss {val_loss / n:.4f} ppl {math.exp(val_loss / n):.2f}")
        model.save_pretrained(f"t5-cnn-epoch{epoch}")


if __name__ == "__main__":
    main()
