"""Fine-tune a sentence classifier with class-weighted loss through a Trainer subclass."""
import numpy as np
import torch
import torch.nn as nn
from datasets import load_dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)

MODEL = "distilroberta-base"
set_seed(13)

tok = AutoTokenizer.from_pretrained(MODEL)
ds = load_dataset("tweet_eval", "sentiment")
ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=128), batched=True)

counts = np.bincount(ds["train"]["label"], minlength=3)
class_weights = torch.tensor(counts.sum() / (3 * counts), dtype=torch.float32)


class WeightedTrainer(Trainer):
    def __init__(self, *args, class_weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits
        loss_fct = nn.CrossEntropyLoss(weight=self.class_weights.to(logits.device))
        loss = loss_fct(logits.view(-1, self.model.config.num_labels), labels.view(-1))
        return (loss, outputs) if return_outputs else loss


def compute_metrics(eval_pred):
    logits, labels = eval_pred
    probs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    preds = probs.argmax(-1)
    f1s = []
    for c in range(3):
        tp = ((preds == c) & (labels == c)).sum()
        fp = ((preds == c) & (labels != c)).sum()
        fn = ((preds != c) & (labels == c)).sum()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return {"accuracy": float((preds == labels).mean()), "macro_f1": float(np.mean(f1s)),
            "mean_confidence": float(probs.max(-1).mean())}


model = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=3)
args = TrainingArguments(
    output_dir="out/tweet-sentiment",
    learning_rate=3e-5,
    per_device_train_batch_size=32,
    per_device_eval_batch_size=64,
    gradient_accumulation_steps=2,
    num_train_epochs=4,
    warmup_ratio=0.1,
    weight_decay=0.01,
    eval_strategy="epoch",
    save_strategy="epoch",
    load_best_model_at_end=True,
    metric_for_best_model="macro_f1",
    bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False),
    dataloader_num_workers=2,
    report_to="none",
)
trainer = WeightedTrainer(
    model=model,
    args=args,
    train_dataset=ds["train"],
    eval_dataset=ds["validation"],
    data_collator=DataCollatorWithPadding(tok),
    compute_metrics=compute_metrics,
    class_weights=class_weights,
)

if __name__ == "__main__":
    trainer.train()
    print(trainer.evaluate(ds["test"]))
    trainer.save_model("out/tweet-sentiment/best")
