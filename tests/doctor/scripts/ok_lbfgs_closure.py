# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""Full-batch physics-style fit with LBFGS: the closure zeroes, computes the loss and back-propagates."""
import torch
import torch.nn as nn

if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    t = torch.linspace(0, 3, 256).unsqueeze(-1)
    target = torch.exp(-t) * torch.cos(4 * t)
    net = nn.Sequential(nn.Linear(1, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh(), nn.Linear(24, 1))
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=5, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(t), target)
        loss.backward()
        return loss

    for it in range(25):
        loss = opt.step(closure)
        if it % 5 == 0:
            print(it, float(loss))
