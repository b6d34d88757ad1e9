# doctor-expect: PT-RUN001
# doctor-args:
# doctor-options:
# doctor-bug: run_phase sets model.train(phase != "val") but the phase is called "valid": validation runs with dropout and batch-norm in training mode
"""Phase-driven loop (train / valid) as in many notebooks."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
torch.set_num_threads(1)


def synthetic(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 20, generator=g)
    y = (x[:, :5].sum(1) > 0).long()
    return TensorDataset(x, y)


loaders = {
    "train": DataLoader(synthetic(320, 0), batch_size=32, shuffle=True),
    "valid": DataLoader(synthetic(128, 1), batch_size=32, shuffle=False),
}
model = nn.Sequential(
    nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 2)
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()


def run_phase(phase):
    model.train(phase != "val")
    total, n = 0.0, 0
    for x, y in loaders[phase]:
        with torch.set_grad_enabled(phase == "train"):
            out = model(x)
            loss = criterion(out, y)
            if phase == "train":
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


for epoch in range(3):
    for phase in ("train", "valid"):
        print(epoch, phase, round(run_phase(phase), 4))
