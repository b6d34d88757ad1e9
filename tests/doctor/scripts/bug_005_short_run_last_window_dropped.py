# doctor-expect: PT-RUN005
# doctor-args:
# doctor-options:
# doctor-bug: the run is short (2 epochs of 7 micro-batches, accumulation 3: 4 optimizer steps, fewer than the doctor's --steps) and the accumulation test `(i + 1) % accum == 0` never fires on the 7th micro-batch: the last micro-batch of each epoch is back-propagated and never stepped
"""Tiny regression with gradient accumulation that finishes before the doctor's step budget."""
import torch
import torch.nn as nn


def batches(x, y, bs):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), bs):
        j = perm[i:i + bs]
        yield x[j], y[j]


def train(epochs=2, accum=3):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(112, 5)
    y = x.sum(-1, keepdim=True)
    model = nn.Linear(5, 1)
    model2 = nn.Sequential(model, nn.Tanh(), nn.Linear(1, 1))
    opt = torch.optim.SGD(model2.parameters(), lr=0.1)
    for epoch in range(epochs):
        opt.zero_grad()
        for i, (xb, yb) in enumerate(batches(x, y, 16)):
            loss = nn.functional.mse_loss(model2(xb), yb) / accum
            loss.backward()
            if (i + 1) % accum == 0:
                opt.step()
                opt.zero_grad()
        print(epoch, loss.item())


if __name__ == "__main__":
    train()
