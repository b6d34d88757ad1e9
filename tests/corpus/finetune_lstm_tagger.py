"""POS tagger: BiLSTM over frozen GloVe embeddings, fine-tuned on a treebank (CoNLL-U, pre-indexed)."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class BiLSTMTagger(nn.Module):
    def __init__(self, vectors, n_tags, hidden=256):
        super().__init__()
        self.embedding = nn.Embedding(vectors.size(0), vectors.size(1), padding_idx=0)
        self.embedding.weight.data.copy_(vectors)
        self.embedding.weight.require_grad = False
        self.lstm = nn.LSTM(vectors.size(1), hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, n_tags)

    def forward(self, tokens):
        h, _ = self.lstm(self.embedding(tokens))  # (B, T, 2H)
        return self.out(h)  # (B, T, n_tags)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="ud_en_ewt.pt")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = torch.load(args.data, map_location="cpu", weights_only=True)
    train_ds = TensorDataset(data["train_tokens"], data["train_tags"])
    dev_ds = TensorDataset(data["dev_tokens"], data["dev_tags"])
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_ds, batch_size=32, shuffle=True, generator=g, pin_memory=device.type == "cuda")
    dev_loader = DataLoader(dev_ds, batch_size=256, pin_memory=device.type == "cuda")

    model = BiLSTMTagger(data["vectors"], n_tags=int(data["n_tags"]))
    criterion = nn.CrossEntropyLoss(ignore_index=0)
    for epoch in range(args.epochs):
        model.to(device)
        model.train()
        total = torch.zeros((), device=device)
        for tokens, tags in train_loader:
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            tokens, tags = tokens.to(device, non_blocking=True), tags.to(device, non_blocking=True)
            model.zero_grad(set_to_none=False)
            logits = model(tokens)
            loss = criterion(logits.reshape(-1, logits.size(-1)), tags.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total += loss.detach()
        model.eval()
        correct = torch.zeros((), device=device)
        count = torch.zeros((), device=device)
        with torch.no_grad():
            for tokens, tags in dev_loader:
                tokens, tags = tokens.to(device), tags.to(device)
                mask = tags != 0
                correct += ((model(tokens).argmax(-1) == tags) & mask).sum()
                count += mask.sum()
        print(f"epoch {epoch}: loss {total.item() / len(train_loader):.4f} dev acc {(correct / count).item():.4f}")
    torch.save(model.state_dict(), "bilstm_tagger.pt")


if __name__ == "__main__":
    main()
