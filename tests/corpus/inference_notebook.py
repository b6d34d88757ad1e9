# %% [markdown]
# # Error analysis of the sentiment model on the dev set
# Loads the exported weights, predicts, and lists the most confident mistakes.

# %%
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from sentiment_model import SentimentTransformer

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
dev = torch.load("data/dev_tensors.pt", map_location="cpu", weights_only=True)
dev_loader = DataLoader(TensorDataset(dev["input_ids"], dev["attention_mask"], dev["labels"]), batch_size=128,
                        pin_memory=device.type == "cuda")

# %%
model = SentimentTransformer(vocab_size=30522, n_classes=2)
model.load_state_dict(torch.load("exports/sentiment_best.pt", map_location=device, weights_only=True))
model.to(device)
model.eval()

# %%
all_probs, all_labels = [], []
with torch.inference_mode():
    for input_ids, attention_mask, labels in dev_loader:
        logits = model(input_ids.to(device), attention_mask.to(device))
        all_probs.append(F.softmax(logits, dim=-1).cpu())
        all_labels.append(labels)
probs = torch.cat(all_probs)  # (N, 2)
labels = torch.cat(all_labels)
pred = probs.argmax(-1)
print(f"dev accuracy: {(pred == labels).float().mean():.4f}")

# %%
conf = probs.max(-1).values
wrong = (pred != labels).nonzero().squeeze(-1)
worst = wrong[conf[wrong].argsort(descending=True)][:20]
texts = pd.read_csv("data/dev.csv")["text"]
report = pd.DataFrame({
    "text": [texts[i] for i in worst.tolist()],
    "label": labels[worst].tolist(),
    "pred": pred[worst].tolist(),
    "confidence": conf[worst].tolist(),
})
report.to_csv("worst_mistakes.csv", index=False)
report.head(10)

# %%
nll = F.nll_loss(torch.log(probs.clamp_min(1e-12)), labels)
ece_bins = torch.linspace(0, 1, 11)
ece = torch.zeros(())
for lo, hi in zip(ece_bins[:-1], ece_bins[1:]):
    in_bin = (conf > lo) & (conf <= hi)
    if in_bin.any():
        ece += in_bin.float().mean() * ((pred[in_bin] == labels[in_bin]).float().mean() - conf[in_bin].mean()).abs()
print(f"NLL {nll:.4f}  ECE {ece:.4f}")
