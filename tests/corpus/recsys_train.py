"""Two-tower recommender trained on dict batches; evaluation reuses one helper under the caller's no_grad."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from interactions import InteractionDataset, collate_interactions


def move_to(batch, device):
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class Tower(nn.Module):
    def __init__(self, n_ids, n_feats, dim=64):
        super().__init__()
        self.emb = nn.Embedding(n_ids, dim)
        self.mlp = nn.Sequential(nn.Linear(dim + n_feats, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, dim))

    def forward(self, ids, feats):
        if feats is None:
            feats = torch.zeros(ids.size(0), self.mlp[0].in_features - self.emb.embedding_dim).to(ids.device)
        return F.normalize(self.mlp(torch.cat([self.emb(ids), feats], dim=-1)), dim=-1)


class TwoTower(nn.Module):
    def __init__(self, n_users, n_items, n_user_feats, n_item_feats):
        super().__init__()
        self.user = Tower(n_users, n_user_feats)
        self.item = Tower(n_items, n_item_feats)

    def forward(self, batch):
        u = self.user(batch["user_id"], batch.get("user_feats"))
        i = self.item(batch["item_id"], batch.get("item_feats"))
        return u @ i.t() / 0.05  # (B, B) in-batch logits


def evaluate(model, loader, device):
    hits = torch.zeros((), device=device)
    for batch in loader:
        batch = move_to(batch, device)
        logits = model(batch)
        target = torch.arange(logits.size(0), device=device)
        hits += (logits.topk(10, dim=1).indices == target[:, None]).any(1).sum()
    return hits.item() / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_ds, val_ds = InteractionDataset("train.parquet"), InteractionDataset("val.parquet")
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_ds, batch_size=1024, shuffle=True, num_workers=4, collate_fn=collate_interactions,
                              pin_memory=device.type == "cuda", generator=g, drop_last=True)
    val_loader = DataLoader(val_ds, batch_size=1024, num_workers=4, collate_fn=collate_interactions,
                            pin_memory=device.type == "cuda")
    model = TwoTower(train_ds.n_users, train_ds.n_items, train_ds.n_user_feats, train_ds.n_item_feats).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train(True)
        for batch in train_loader:
            batch = move_to(batch, device)
            logits = model(batch)
            labels = torch.arange(logits.size(0), device=device)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.train(False)
        with torch.no_grad():
            recall = evaluate(model, val_loader, device)
        print(f"epoch {epoch}: recall@10 {recall:.4f}")
    torch.save(model.state_dict(), "two_tower.pt")


if __name__ == "__main__":
    main()
