"""Kim (2014) CNN for sentence classification with pre-trained word vectors."""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch.utils.data import DataLoader, TensorDataset


class TextCNN(nn.Module):
    def __init__(self, embeddings, n_classes, kernel_sizes=(3, 4, 5), n_filters=100, p_drop=0.5):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(torch.as_tensor(embeddings), freeze=False, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(self.embedding.embedding_dim, n_filters, k) for k in kernel_sizes)
        self.fc = nn.Linear(n_filters * len(kernel_sizes), n_classes)
        self.p_drop = p_drop

    def forward(self, tokens):
        x = self.embedding(tokens).transpose(1, 2)  # (B, E, T)
        pooled = [F.relu(conv(x)).amax(dim=2) for conv in self.convs]  # each (B, F)
        h = torch.cat(pooled, dim=1)
        h = F.dropout(h, self.p_drop)
        return self.fc(h)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="sst2_ids.npz")
    parser.add_argument("--vectors", default="glove_300d_subset.npy")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-norm", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    data = np.load(args.data)
    train_ds = TensorDataset(torch.from_numpy(data["x_train"]).long(), torch.from_numpy(data["y_train"]).long())
    test_ds = TensorDataset(torch.from_numpy(data["x_test"]).long(), torch.from_numpy(data["y_test"]).long())
    g = torch.Generator().manual_seed(args.seed)
    pin = device.type == "cuda"
    train_loader = DataLoader(train_ds, batch_size=50, shuffle=True, generator=g, pin_memory=pin)
    test_loader = DataLoader(test_ds, batch_size=500, pin_memory=pin)

    model = TextCNN(np.load(args.vectors), n_classes=2).to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    for epoch in range(args.epochs):
        model.train()
        train_preds, train_true = [], []
        for tokens, labels in train_loader:
            tokens, labels = tokens.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            optimizer.zero_grad()
            logits = model(tokens)
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            optimizer.step()
            # max-norm constraint on the output layer (as in the paper)
            w = model.fc.weight.data
            w.mul_(torch.clamp(args.max_norm / (w.norm(dim=1, keepdim=True) + 1e-8), max=1.0))
            train_preds.extend(logits.argmax(1).cpu().numpy())
            train_true.extend(labels.cpu().numpy())

        model.eval()
        test_preds = []
        with torch.no_grad():
            for tokens, labels in test_loader:
                test_preds.append(model(tokens.to(device)).argmax(1).cpu())
        test_f1 = f1_score(test_ds.tensors[1].numpy(), torch.cat(test_preds).numpy())
        print(f"epoch {epoch}: train f1 {f1_score(train_true, train_preds):.4f} test f1 {test_f1:.4f}")


if __name__ == "__main__":
    main()
