import copy
import logging

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

log = logging.getLogger(__name__)


class FTTransformer(nn.Module):
    def __init__(self, n_num, cat_cards, d=64, depth=3, heads=8, n_out=1, dropout=0.1):
        super().__init__()
        self.num_w = nn.Parameter(torch.randn(n_num, d) * 0.02)
        self.num_b = nn.Parameter(torch.zeros(n_num, d))
        self.cat_emb = nn.ModuleList([nn.Embedding(c, d) for c in cat_cards])
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.ReLU(), nn.Linear(d, n_out))

    def forward(self, x_num, x_cat):
        tokens = [x_num.unsqueeze(-1) * self.num_w + self.num_b]
        tokens += [emb(x_cat[:, i]).unsqueeze(1) for i, emb in enumerate(self.cat_emb)]
        x = torch.cat([self.cls.expand(x_num.size(0), -1, -1)] + tokens, dim=1)
        return self.head(self.encoder(x)[:, 0]).squeeze(-1)


class Trainer:
    def __init__(self, model, train_ds, valid_ds, lr=1e-4, batch_size=512, device=None, patience=8):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.train_loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, num_workers=2)
        self.valid_loader = DataLoader(valid_ds, batch_size=2048, num_workers=2)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-5)
        self.loss_fn = nn.MSELoss()
        self.patience = patience
        self.best_state = None

    def _step(self, batch):
        x_num, x_cat, y = (t.to(self.device) for t in batch)
        pred = self.model(x_num, x_cat)
        return self.loss_fn(pred, y)

    def train_one_epoch(self):
        self.model.train()
        total = 0.0
        for batch in self.train_loader:
            loss = self._step(batch)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total / len(self.train_loader)

    @torch.no_grad()
    def validate(self):
        total, n = 0.0, 0
        for batch in self.valid_loader:
            total += self._step(batch).item() * len(batch[0])
            n += len(batch[0])
        return total / n

    def fit(self, epochs=200):
        best, bad = float("inf"), 0
        for epoch in range(epochs):
            tr = self.train_one_epoch()
            va = self.validate()
            log.info("epoch %d train %.5f valid %.5f", epoch, tr, va)
            if va < best:
                best, bad = va, 0
                self.best_state = copy.deepcopy(self.model.state_dict())
            else:
                bad += 1
                if bad >= self.patience:
                    log.info("early stop at epoch %d", epoch)
                    break
        self.model.load_state_dict(self.best_state)
        return best


if __name__ == "__main__":
    from housing import load_splits  # local helper returning TensorDatasets

    torch.manual_seed(0)
    train_ds, valid_ds, meta = load_splits("data/housing.parquet")
    model = FTTransformer(meta["n_num"], meta["cat_cards"])
    print("best valid mse", Trainer(model, train_ds, valid_ds).fit())
