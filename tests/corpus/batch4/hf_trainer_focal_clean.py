"""Token classification (NER) with a focal loss, through a Trainer subclass."""
import torch
import torch.nn.functional as F
from datasets import load_dataset
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Trainer,
                          TrainingArguments, set_seed)

set_seed(7)
CKPT = "bert-base-cased"
ds = load_dataset("conll2003")
label_names = ds["train"].features["ner_tags"].feature.names
tok = AutoTokenizer.from_pretrained(CKPT)


def align(batch):
    enc = tok(batch["tokens"], truncation=True, is_split_into_words=True)
    all_labels = []
    for i, tags in enumerate(batch["ner_tags"]):
        word_ids = enc.word_ids(batch_index=i)
        prev, labels = None, []
        for w in word_ids:
            labels.append(-100 if w is None or w == prev else tags[w])
            prev = w
        all_labels.append(labels)
    enc["labels"] = all_labels
    return enc


encoded = ds.map(align, batched=True, remove_columns=ds["train"].column_names)


class FocalTrainer(Trainer):
    def __init__(self, *args, gamma=2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma = gamma

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logp = F.log_softmax(outputs.logits, dim=-1).view(-1, outputs.logits.size(-1))
        labels = labels.view(-1)
        valid = labels != -100
        logp_t = logp[valid].gather(1, labels[valid].unsqueeze(1)).squeeze(1)
        focal = (1 - logp_t.exp()).pow(self.gamma)
        loss = -(focal * logp_t).mean()
        nll = F.nll_loss(logp[valid], labels[valid])
        self.log({"nll": nll.item()}) if self.state.global_step % 100 == 0 else None
        return (loss, outputs) if return_outputs else loss


model = AutoModelForTokenClassification.from_pretrained(CKPT, num_labels=len(label_names))
args = TrainingArguments("runs/ner-focal", learning_rate=3e-5, per_device_train_batch_size=16,
                         per_device_eval_batch_size=64, num_train_epochs=3, weight_decay=0.01,
                         eval_strategy="epoch", save_strategy="epoch", report_to="none",
                         bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
trainer = FocalTrainer(model=model, args=args, train_dataset=encoded["train"], eval_dataset=encoded["validation"],
                       data_collator=DataCollatorForTokenClassification(tok), gamma=2.0)

if __name__ == "__main__":
    trainer.train()
    print(trainer.evaluate(encoded["test"]))
