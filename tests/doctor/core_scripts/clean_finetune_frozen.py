# doctor-expect: clean
# doctor-args:
# doctor-options: --steps 16
# doctor-bug:
"""Fine-tuning: frozen backbone (requires_grad False, excluded from the optimizer), new head built before the
optimizer, per-epoch StepLR, num_workers=2 loader with a seeded generator, eval with model.eval()."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset


class Blobs(Dataset):
    def __init__(self, n=240):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 12, generator=g)
        self.y = (self.x[:, :3].sum(1) > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"features": self.x[i], "label": self.y[i]}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    backbone = nn.Sequential(nn.Linear(12, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    for p in backbone.parameters():
        p.requires_grad_(False)
    model = nn.Sequential(backbone, nn.Dropout(0.2), nn.Linear(32, 2))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loader = DataLoader(Blobs(), batch_size=24, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(0), persistent_workers=True)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(3):
        model.train()
        backbone.eval()  # frozen: keep its batch-norm statistics fixed
        for batch in loader:
            logits = model(batch["features"])
            loss = loss_fn(logits, batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(Blobs().x).argmax(1) == Blobs().y).float().mean()
        print(f"epoch {epoch} loss {loss.item():.3f} acc {acc.item():.3f}")


if __name__ == "__main__":
    main()
