# doctor-expect: PT-RUN006
# doctor-args:
# doctor-options:
# doctor-bug: the multi-head model keeps its heads in an nn.ModuleDict keyed "sentiment" and "topic", but the batches carry the targets "sentiment" and "topics": forward() only runs the heads whose key is in the batch, so the "topic" head (in the optimizer) never receives a gradient
"""Multi-task model with an nn.ModuleDict of heads, driven by the keys of dict batches."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class MultiHead(nn.Module):
    def __init__(self, dim=24, tasks=None):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(16, dim), nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(dim, n) for name, n in (tasks or {}).items()})

    def forward(self, x, targets):
        h = self.trunk(x)
        losses = {name: F.cross_entropy(head(h), targets[name]) for name, head in self.heads.items() if name in targets}
        return sum(losses.values()), losses


class Reviews(Dataset):
    def __init__(self, n=256):
        g = torch.Generator().manual_seed(3)
        self.x = torch.randn(n, 16, generator=g)
        self.s = (self.x[:, 0] > 0).long()
        self.t = self.x[:, 1:5].argmax(-1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "sentiment": self.s[i], "topics": self.t[i]}


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = MultiHead(tasks={"sentiment": 2, "topic": 4})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(Reviews(), batch_size=32, shuffle=True)
    for epoch in range(3):
        for batch in loader:
            x = batch.pop("x")
            loss, parts = model(x, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(epoch, {k: round(v.item(), 3) for k, v in parts.items()})
