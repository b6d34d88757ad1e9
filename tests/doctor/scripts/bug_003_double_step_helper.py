# doctor-expect: PT-RUN003
# doctor-args:
# doctor-options:
# doctor-bug: train_step() already calls optimizer.step(), and the loop calls optimizer.step() again: two optimizer steps per backward
"""Helper-function training loop for a small regression model."""
import torch
import torch.nn as nn


def get_batch(gen, bs=32, dim=8):
    x = torch.randn(bs, dim, generator=gen)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    return x, y


def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    pred = model(x)
    loss = nn.functional.mse_loss(pred, y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def main(steps=30):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = []
    for step in range(steps):
        x, y = get_batch(gen)
        history.append(train_step(model, optimizer, x, y))
        optimizer.step()
        if step % 10 == 9:
            print(f"step {step + 1}: loss {torch.stack(history[-10:]).mean():.4f}")


if __name__ == "__main__":
    main()
