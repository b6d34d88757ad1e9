"""Supervised fine-tuning of a small causal LM in bf16 autocast, single GPU."""
import argparse
import json
import math

import torch
from torch.utils.data import DataLoader, Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer


class ChatJsonl(Dataset):
    def __init__(self, path, tok, max_len=1024):
        with open(path) as f:
            self.rows = [json.loads(line) for line in f]
        self.tok, self.max_len = tok, max_len

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        r = self.rows[i]
        prompt = self.tok(r["prompt"], add_special_tokens=False)["input_ids"]
        answer = self.tok(r["answer"] + self.tok.eos_token, add_special_tokens=False)["input_ids"]
        ids = (prompt + answer)[: self.max_len]
        labels = ([-100] * len(prompt) + answer)[: self.max_len]
        return torch.tensor(ids), torch.tensor(labels)


def pad_collate(batch, pad_id=0):
    ids, labels = zip(*batch)
    ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad_id)
    labels = torch.nn.utils.rnn.pad_sequence(labels, batch_first=True, padding_value=-100)
    return ids, labels, (ids != pad_id).long()


def pick_dtype():
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float16 if torch.cuda.is_available() else torch.float32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="Qwen/Qwen2.5-0.5B")
    ap.add_argument("--data", default="data/sft.jsonl")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-5)
    args = ap.parse_args()
    torch.manual_seed(0)

    tok = AutoTokenizer.from_pretrained(args.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(args.model).to(device)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    dtype = pick_dtype()
    scaler = torch.amp.GradScaler("cuda", enabled=(dtype == torch.float16))

    loader = DataLoader(ChatJsonl(args.data, tok), batch_size=4, shuffle=True, collate_fn=pad_collate, num_workers=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, fused=torch.cuda.is_available())
    total = args.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))

    model.train()
    for epoch in range(args.epochs):
        for step, (ids, labels, mask) in enumerate(loader):
            ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
            with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            sched.step()
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{len(loader)} loss {loss.item():.4f}")
    model.save_pretrained("sft-out")
    tok.save_pretrained("sft-out")


if __name__ == "__main__":
    main()
