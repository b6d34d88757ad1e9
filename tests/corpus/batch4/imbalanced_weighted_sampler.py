"""Fraud detection MLP: a WeightedRandomSampler rebalances the classes in every epoch."""
import argparse

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler


def load(path):
    df = pd.read_parquet(path)
    y = df.pop("is_fraud").to_numpy(dtype=np.float32)
    x = df.to_numpy(dtype=np.float32)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="data/fraud_train.parquet")
    ap.add_argument("--valid", default="data/fraud_valid.parquet")
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    xtr, ytr = load(args.train)
    xva, yva = load(args.valid)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    train_ds = TensorDataset(torch.from_numpy((xtr - mu) / sd), torch.from_numpy(ytr))
    valid_ds = TensorDataset(torch.from_numpy((xva - mu) / sd), torch.from_numpy(yva))
    class_w = 1.0 / np.bincount(ytr.astype(int))
    sample_w = torch.from_numpy(class_w[ytr.astype(int)]).double()
    sampler = WeightedRandomSampler(sample_w, num_samples=len(sample_w), replacement=True)
    train_dl = DataLoader(train_ds, batch_size=512, sampler=sampler, drop_last=True)
    valid_dl = DataLoader(valid_ds, batch_size=4096)

    model = nn.Sequential(nn.Linear(xtr.shape[1], 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 1)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in train_dl:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb).squeeze(1), yb)
            loss.backward()
            opt.step()
        model.eval()
        scores, labels = [], []
        with torch.no_grad():
            for xb, yb in valid_dl:
                scores.append(torch.sigmoid(model(xb.to(device)).squeeze(1)).cpu())
                labels.append(yb)
        s, l = torch.cat(scores), torch.cat(labels)
        order = torch.argsort(s, descending=True)
        top = l[order[: int(0.01 * len(l))]]
        print(f"epoch {epoch} precision@1% {top.mean().item():.4f} loss {loss.item():.4f}")
    torch.save(model.state_dict(), "fraud_mlp.pt")


if __name__ == "__main__":
    main()
