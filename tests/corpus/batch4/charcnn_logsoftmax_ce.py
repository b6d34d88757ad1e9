# Character-level CNN for news topic classification (AG News), exported from a notebook.
import csv

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-,;.!?:'\"/\\|_@#$%^&*~`+=<>()[]{} "
MAX_LEN = 1014
torch.manual_seed(123)
device = "cuda" if torch.cuda.is_available() else "cpu"


class AGNews(Dataset):
    def __init__(self, path):
        with open(path) as f:
            self.rows = [(int(r[0]) - 1, (r[1] + " " + r[2]).lower()) for r in csv.reader(f)]
        self.index = {c: i + 1 for i, c in enumerate(ALPHABET)}

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        label, text = self.rows[i]
        ids = [self.index.get(c, 0) for c in text[:MAX_LEN]]
        ids += [0] * (MAX_LEN - len(ids))
        return torch.tensor(ids), label


class CharCNN(nn.Module):
    def __init__(self, n_classes=4, n_chars=len(ALPHABET) + 1):
        super().__init__()
        self.emb = nn.Embedding(n_chars, 64, padding_idx=0)
        self.convs = nn.Sequential(
            nn.Conv1d(64, 256, 7), nn.ReLU(), nn.MaxPool1d(3),
            nn.Conv1d(256, 256, 7), nn.ReLU(), nn.MaxPool1d(3),
            nn.Conv1d(256, 256, 3), nn.ReLU(), nn.AdaptiveMaxPool1d(8),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(256 * 8, 1024), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(1024, n_classes))

    def forward(self, ids):
        return F.log_softmax(self.fc(self.convs(self.emb(ids).transpose(1, 2))), dim=-1)


train_dl = DataLoader(AGNews("data/ag_news/train.csv"), batch_size=128, shuffle=True, num_workers=4)
test_dl = DataLoader(AGNews("data/ag_news/test.csv"), batch_size=512, num_workers=4)
model = CharCNN().to(device)
criterion = nn.NLLLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

for epoch in range(10):
    model.train()
    for ids, y in train_dl:
        ids, y = ids.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(ids), y)
        loss.backward()
        optimizer.step()
    scheduler.step()

    model.eval()
    correct = 0
    with torch.no_grad():
        for ids, y in test_dl:
            correct += (model(ids.to(device)).argmax(1).cpu() == y).sum().item()
    print(f"epoch {epoch}: loss {loss.item():.4f} test acc {correct / len(test_dl.dataset):.4f}")

torch.save(model.state_dict(), "charcnn_agnews.pt")
