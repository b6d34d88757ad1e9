# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""DP-SGD-style training: per-sample gradients with torch.func, clipped, averaged, written to .grad."""
import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x_all = torch.randn(2048, 8)
    y_all = x_all @ torch.randn(8, 1) + 0.1 * torch.randn(2048, 1)

    def sample_loss(p, x, y):
        return ((functional_call(model, p, (x.unsqueeze(0),)) - y.unsqueeze(0)) ** 2).mean()

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    for step in range(40):
        idx = torch.randint(0, 2048, (64,))
        x, y = x_all[idx], y_all[idx]
        params = {k: v.detach() for k, v in model.named_parameters()}
        grads = per_sample(params, x, y)
        for name, p in model.named_parameters():
            g = grads[name]
            norms = g.flatten(1).norm(dim=1).clamp(min=1e-6)
            p.grad = (g * (1.0 / norms).clamp(max=1.0).view(-1, *([1] * (g.dim() - 1)))).mean(0)
        opt.step()
        if step % 10 == 0:
            with torch.no_grad():
                print(step, float(((model(x) - y) ** 2).mean()))


if __name__ == "__main__":
    main()
