# Linear / softplus regression with hand-written SGD (teaching notebook, exported as a script).
import math

import matplotlib.pyplot as plt
import torch

N, D = 1000, 3
true_w = torch.tensor([2.0, -3.4, 1.5])
true_b = 4.2

X = torch.randn(N, D)
y = X @ true_w + true_b + 0.01 * torch.randn(N)

w = torch.zeros(D, requires_grad=True)
b = torch.zeros(1, requires_grad=True)


def model(x):
    return x @ w + b


def softplus(z):
    return torch.log(1 + torch.exp(z))


lr = 0.03
batch_size = 10
losses = []
for epoch in range(5):
    perm = torch.randperm(N)
    for i in range(0, N, batch_size):
        idx = perm[i:i + batch_size]
        pred = model(X[idx])
        loss = ((pred - y[idx]) ** 2).mean() / 2
        loss.backward()
        for p in (w, b):
            p.data -= lr * p.grad.data
            p.grad.zero_()
    with torch.no_grad():
        full = ((model(X) - y) ** 2).mean() / 2
    losses.append(full.item())
    print(f"epoch {epoch + 1}, loss {full.item():.6f}")

print("w error:", (true_w - w.detach()).tolist(), "b error:", true_b - b.item())

# A smooth positive target: fit softplus(x @ v) to it with the same loop.
v = torch.zeros(D, requires_grad=True)
y_pos = softplus(X @ true_w) + 0.01 * torch.rand(N)
for epoch in range(20):
    loss = ((softplus(X @ v) - y_pos) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        v -= 0.1 * v.grad
        v.grad = None
    if epoch % 5 == 0:
        print(f"softplus fit epoch {epoch}: {loss.item():.5f}")

plt.plot(range(1, len(losses) + 1), losses)
plt.yscale("log")
plt.title(f"final loss {losses[-1]:.2e} (sqrt: {math.sqrt(losses[-1]):.2e})")
plt.savefig("linreg_loss.png")
