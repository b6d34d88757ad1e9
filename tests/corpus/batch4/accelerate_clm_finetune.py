import argparse
import math

import torch
from accelerate import Accelerator
from datasets import load_dataset
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM, AutoTokenizer, default_data_collator, get_cosine_schedule_with_warmup


def group_texts(examples, block_size=512):
    concatenated = {k: sum(examples[k], []) for k in examples.keys()}
    total = (len(concatenated["input_ids"]) // block_size) * block_size
    result = {k: [t[i:i + block_size] for i in range(0, total, block_size)] for k, t in concatenated.items()}
    result["labels"] = result["input_ids"].copy()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="gpt2")
    parser.add_argument("--dataset", default="wikitext")
    parser.add_argument("--config", default="wikitext-2-raw-v1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bs", type=int, default=8)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-5)
    args = parser.parse_args()

    accelerator = Accelerator(gradient_accumulation_steps=args.grad_accum, mixed_precision="bf16")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    raw = load_dataset(args.dataset, args.config)
    with accelerator.main_process_first():
        tokenized = raw.map(lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
        lm = tokenized.map(group_texts, batched=True)

    train_dl = DataLoader(lm["train"], shuffle=True, batch_size=args.bs, collate_fn=default_data_collator)
    eval_dl = DataLoader(lm["validation"], batch_size=args.bs, collate_fn=default_data_collator)

    model = AutoModelForCausalLM.from_pretrained(args.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    steps = math.ceil(len(train_dl) / args.grad_accum) * args.epochs
    scheduler = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=100, num_training_steps=steps)
    model, optimizer, train_dl, eval_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, eval_dl, scheduler)

    for epoch in range(args.epochs):
        model.train()
        for step, batch in enumerate(train_dl):
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.zero_grad()
            if step % 100 == 0:
                accelerator.print(f"epoch {epoch} step {step} loss {loss.item():.4f}")

        model.eval()
        losses = []
        for batch in eval_dl:
            with torch.no_grad():
                loss = model(**batch).loss
            losses.append(accelerator.gather_for_metrics(loss.repeat(args.bs)))
        ppl = math.exp(torch.cat(losses).mean().item())
        accelerator.print(f"epoch {epoch}: perplexity {ppl:.2f}")

    accelerator.wait_for_everyone()
    accelerator.unwrap_model(model).save_pretrained("clm-out", save_function=accelerator.save)


if __name__ == "__main__":
    main()
