"""Bidirectional LSTM sentiment classifier on pre-tokenised reviews (legacy training script)."""
import argparse
import pickle

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable
from torch.utils.data import DataLoader, TensorDataset


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embed_dim=128, hidden=256, n_layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, n_layers, batch_first=True, bidirectional=True, dropout=0.3)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * hidden, 1)

    def forward(self, tokens):
        emb = self.embedding(tokens)  # (B, T, E)
        out, _ = self.lstm(emb)  # (B, T, 2H)
        pooled = out.max(dim=1).values
        return self.fc(self.dropout(pooled)).squeeze(-1)  # (B,) logits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="imdb_tokens.pkl")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    with open(args.data, "rb") as f:
        data = pickle.load(f)
    train_ds = TensorDataset(torch.tensor(data["x_train"]), torch.tensor(data["y_train"], dtype=torch.float32))
    test_ds = TensorDataset(torch.tensor(data["x_test"]), torch.tensor(data["y_test"], dtype=torch.float32))
    train_loader = DataLoader(train_ds, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_ds, batch_size=256)

    model = SentimentLSTM(data["vocab_size"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for epoch in range(args.epochs):
        model.train()
        epoch_outputs = []
        for tokens, labels in train_loader:
            tokens, labels = Variable(tokens), Variable(labels)
            optimizer.zero_grad(set_to_none=False)
            logits = model(tokens)
            loss = F.binary_cross_entropy(torch.sigmoid(logits), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            epoch_outputs.append(logits)
        train_logits = torch.cat(epoch_outputs)
        history.append(train_logits.detach().mean().item())

        model.eval()
        correct = 0
        with torch.no_grad():
            for tokens, labels in test_loader:
                preds = (model(tokens) > 0).float()
                correct += (preds == labels).sum().item()
        print(f"epoch {epoch}: test acc {correct / len(test_ds):.4f}, mean train logit {history[-1]:.3f}")
    torch.save(model.state_dict(), "sentiment_lstm.pt")


if __name__ == "__main__":
    main()
