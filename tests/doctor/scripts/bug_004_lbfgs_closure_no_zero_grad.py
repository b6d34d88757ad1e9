# doctor-expect: PT-RUN004
# doctor-args:
# doctor-options:
# doctor-bug: the LBFGS closure computes the loss and calls backward() but never zeroes the gradients: every evaluation adds to the gradients of all the previous ones, across steps
"""Full-batch curve fitting with LBFGS and a closure."""
import torch
import torch.nn as nn


def fit(model, x, y, iters):
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4, history_size=10)
    for it in range(iters):
        def closure():
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        loss = opt.step(closure)
        print(it, float(loss))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.linspace(-2, 2, 200).unsqueeze(-1)
    y = torch.sin(2 * x) + 0.05 * torch.randn_like(x)
    fit(nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1)), x, y, iters=15)
