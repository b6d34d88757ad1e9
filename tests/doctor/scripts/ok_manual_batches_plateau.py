# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""No DataLoader: a fresh torch.randperm per epoch, manual batching, ReduceLROnPlateau on validation loss."""
import torch
import torch.nn as nn


def batches(x, y, bs):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), bs):
        idx = perm[i:i + bs]
        yield x[idx], y[idx]


def main(epochs=4, bs=40):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(360, 7)
    y = 1.5 * x[:, :2].sum(1, keepdim=True) - 0.5 * x[:, 3:4]
    x_tr, y_tr, x_va, y_va = x[:280], y[:280], x[280:], y[280:]
    model = nn.Sequential(nn.Linear(7, 32), nn.Softplus(), nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for epoch in range(epochs):
        model.train()
        for xb, yb in batches(x_tr, y_tr, bs):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = nn.functional.mse_loss(model(x_va), y_va).item()
        sched.step(val)
        print(f"epoch {epoch} val {val:.4f} lr {opt.param_groups[0]['lr']:.4f}")


if __name__ == "__main__":
    main()
