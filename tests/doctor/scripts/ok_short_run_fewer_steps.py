# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""A run shorter than the doctor's step budget: 2 epochs of 5 batches, accumulation 2 with the final window
stepped, a per-epoch StepLR, evaluation at the end in eval mode."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(160, 6)
    y = x @ torch.randn(6)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    accum = 2
    for epoch in range(2):
        model.train()
        opt.zero_grad()
        for i, (xb, yb) in enumerate(loader):
            loss = nn.functional.mse_loss(model(xb).squeeze(-1), yb) / accum
            loss.backward()
            if (i + 1) % accum == 0 or i + 1 == len(loader):
                opt.step()
                opt.zero_grad()
        sched.step()
    model.eval()
    with torch.no_grad():
        print("final mse", nn.functional.mse_loss(model(x).squeeze(-1), y).item())
