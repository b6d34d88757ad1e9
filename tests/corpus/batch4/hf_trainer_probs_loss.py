"""Emotion classification with label smoothing implemented in a Trainer subclass."""
import numpy as np
import torch
import torch.nn.functional as F
from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, set_seed

set_seed(42)
CKPT = "roberta-base"
LABELS = ["anger", "fear", "joy", "love", "sadness", "surprise"]

tokenizer = AutoTokenizer.from_pretrained(CKPT)
raw = load_dataset("dair-ai/emotion")
enc = raw.map(lambda b: tokenizer(b["text"], truncation=True, padding="max_length", max_length=96), batched=True)


class SmoothedTrainer(Trainer):
    def __init__(self, *args, smoothing=0.1, **kwargs):
        super().__init__(*args, **kwargs)
        self.smoothing = smoothing

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        probs = F.softmax(outputs.logits, dim=-1)
        loss = F.cross_entropy(probs, labels, label_smoothing=self.smoothing)
        return (loss, outputs) if return_outputs else loss


def metrics(pred):
    preds = pred.predictions.argmax(-1)
    acc = float((preds == pred.label_ids).mean())
    per_class = [float((preds[pred.label_ids == c] == c).mean()) for c in range(len(LABELS)) if (pred.label_ids == c).any()]
    return {"accuracy": acc, "balanced_accuracy": float(np.mean(per_class))}


model = AutoModelForSequenceClassification.from_pretrained(
    CKPT, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
args = TrainingArguments(
    output_dir="runs/emotion-roberta",
    per_device_train_batch_size=32,
    per_device_eval_batch_size=128,
    learning_rate=2e-5,
    num_train_epochs=5,
    weight_decay=0.01,
    warmup_steps=300,
    eval_strategy="steps",
    eval_steps=500,
    save_steps=500,
    save_total_limit=2,
    load_best_model_at_end=True,
    metric_for_best_model="balanced_accuracy",
    fp16=torch.cuda.is_available(),
    logging_steps=50,
    report_to="none",
)
trainer = SmoothedTrainer(model=model, args=args, train_dataset=enc["train"], eval_dataset=enc["validation"],
                          compute_metrics=metrics, smoothing=0.1)

if __name__ == "__main__":
    trainer.train()
    test_metrics = trainer.evaluate(enc["test"], metric_key_prefix="test")
    print(test_metrics)
    trainer.save_model("runs/emotion-roberta/final")
    tokenizer.save_pretrained("runs/emotion-roberta/final")
