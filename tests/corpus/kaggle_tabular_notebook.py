# %% [markdown]
# ## Playground S4E1 - bank churn, MLP baseline
# Categorical embeddings + numeric features -> MLP with BatchNorm.

# %%
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

SEED = 42
np.random.seed(SEED)
torch.manual_seed(SEED)
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = True
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# %%
df = pd.read_csv("/kaggle/input/playground-series-s4e1/train.csv")
cat_cols = ["Geography", "Gender"]
num_cols = ["CreditScore", "Age", "Tenure", "Balance", "NumOfProducts", "EstimatedSalary"]
for c in cat_cols:
    df[c] = df[c].astype("category").cat.codes
df[num_cols] = (df[num_cols] - df[num_cols].mean()) / df[num_cols].std()
tr, va = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["Exited"])


def to_tensors(frame):
    return (torch.tensor(frame[cat_cols].values, dtype=torch.long),
            torch.tensor(frame[num_cols].values, dtype=torch.float32),
            torch.tensor(frame["Exited"].values, dtype=torch.float32))


g = torch.Generator().manual_seed(SEED)
train_dl = DataLoader(TensorDataset(*to_tensors(tr)), batch_size=1024, shuffle=True, generator=g, pin_memory=True)
valid_dl = DataLoader(TensorDataset(*to_tensors(va)), batch_size=4096, pin_memory=True)


# %%
class ChurnNet(nn.Module):
    def __init__(self, cards, n_num, emb=8, hidden=128):
        super().__init__()
        self.embs = nn.ModuleList(nn.Embedding(c, emb) for c in cards)
        self.mlp = nn.Sequential(
            nn.Linear(emb * len(cards) + n_num, hidden), nn.BatchNorm1d(hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.SiLU(), nn.Linear(hidden, 1),
        )

    def forward(self, xc, xn):
        e = torch.cat([emb(xc[:, i]) for i, emb in enumerate(self.embs)], dim=1)
        return self.mlp(torch.cat([e, xn], dim=1)).squeeze(1)


model = ChurnNet([int(df[c].max()) + 1 for c in cat_cols], len(num_cols)).to(device)
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-5)
loss_fn = nn.BCEWithLogitsLoss()

# %%
for epoch in range(15):
    model.train()
    for xc, xn, y in train_dl:
        xc, xn, y = xc.to(device), xn.to(device), y.to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xc, xn), y)
        loss.backward()
        opt.step()
    model.eval()
    preds = []
    with torch.no_grad():
        for xc, xn, y in valid_dl:
            preds.append(torch.sigmoid(model(xc.to(device), xn.to(device))).cpu())
    print(epoch, roc_auc_score(va["Exited"].values, torch.cat(preds).numpy()))
