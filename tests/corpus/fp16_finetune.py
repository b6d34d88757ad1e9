"""Fine-tune a small causal LM on instruction data in fp16 (single GPU)."""
import argparse
import math

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling

from instruct_data import load_instruction_dataset


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="EleutherAI/pythia-160m")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.pad_token = tokenizer.eos_token
    train_ds = load_instruction_dataset("alpaca_clean.json", tokenizer, max_len=512)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train_ds, batch_size=8, shuffle=True, collate_fn=collator, num_workers=2,
                        pin_memory=True, generator=g)

    model = AutoModelForCausalLM.from_pretrained(args.model).to(device)
    model.gradient_checkpointing_enable()
    for epoch in range(args.epochs):
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
        model.train()
        step_loss = torch.zeros((), device=device)
        for step, batch in enumerate(loader):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step_loss += loss.detach()
            if (step + 1) % 50 == 0:
                mean = step_loss.item() / 50
                print(f"epoch {epoch} step {step + 1}: loss {mean:.3f} ppl {math.exp(mean):.1f}")
                step_loss.zero_()
        model.save_pretrained(f"ft-epoch{epoch}")
        tokenizer.save_pretrained(f"ft-epoch{epoch}")


if __name__ == "__main__":
    main()
