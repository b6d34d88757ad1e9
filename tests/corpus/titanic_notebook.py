# %% [markdown]
# # Titanic - a tiny PyTorch baseline
# Feature engineering in pandas, an MLP in torch, a submission CSV at the end.

# %%
import random

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

SEED = 2025
random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)

# %%
train = pd.read_csv("/kaggle/input/titanic/train.csv")
test = pd.read_csv("/kaggle/input/titanic/test.csv")


def featurize(df):
    out = pd.DataFrame()
    out["sex"] = (df["Sex"] == "male").astype(np.float32)
    out["age"] = df["Age"].fillna(df["Age"].median()) / 80.0
    out["fare"] = np.log1p(df["Fare"].fillna(0.0))
    out["pclass"] = df["Pclass"] / 3.0
    out["family"] = (df["SibSp"] + df["Parch"]) / 10.0
    out["alone"] = ((df["SibSp"] + df["Parch"]) == 0).astype(np.float32)
    return torch.tensor(out.values, dtype=torch.float32)


X, y = featurize(train), torch.tensor(train["Survived"].values, dtype=torch.float32)
X_test = featurize(test)
idx = np.random.permutation(len(X))
n_val = 150
X_val, y_val = X[idx[:n_val]], y[idx[:n_val]]
X_tr, y_tr = X[idx[n_val:]], y[idx[n_val:]]

# %%
model = nn.Sequential(nn.Linear(X.shape[1], 32), nn.ReLU(inplace=True), nn.Dropout(0.2), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
loss_fn = nn.BCEWithLogitsLoss()
batch_size = 64
n_batches = 0

for epoch in range(100):
    model.train()
    perm = torch.randperm(len(X_tr))
    for start in range(0, len(X_tr), batch_size):
        b = perm[start:start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(X_tr[b]).squeeze(1), y_tr[b])
        loss.backward()
        optimizer.step()
        n_batches += 1
    if epoch % 20 == 0:
        model.eval()
        with torch.no_grad():
            val_acc = ((model(X_val).squeeze(1) > 0).float() == y_val).float().mean()
        print(f"epoch {epoch:3d}  loss {loss.item():.4f}  val acc {val_acc:.3f}  batches {n_batches}")

# %%
model.eval()
with torch.no_grad():
    preds = (torch.sigmoid(model(X_test).squeeze(1)) > 0.5).int().numpy()
pd.DataFrame({"PassengerId": test["PassengerId"], "Survived": preds}).to_csv("submission.csv", index=False)
print(pd.Series(preds).value_counts())
