# doctor-expect: PT-RUN011
# doctor-args:
# doctor-options:
# doctor-bug: per-sample gradients from torch.func (vmap of grad) are summed over the batch of 128 instead of averaged, then written to p.grad for SGD tuned for a mean: every step is 128x too large: the weights move by 0.2-0.6 of their norm per step, and the (no_grad) loss thrashes around 3x its start
# doctor-known-miss: no backward runs (torch.func), so the probe sees no loss; the update ratio of steps 2-5 is 0.28, just under PT-RUN011's 0.3 threshold
"""Per-sample gradients with torch.func (DP-SGD style clipping), written to .grad for a torch optimizer."""
import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    params = {k: v.detach() for k, v in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x_all = torch.randn(2048, 8)
    y_all = x_all @ torch.randn(8, 1) + 0.1 * torch.randn(2048, 1)

    def sample_loss(p, x, y):
        out = functional_call(model, p, (x.unsqueeze(0),))
        return ((out - y.unsqueeze(0)) ** 2).mean()

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    for step in range(40):
        idx = torch.randint(0, 2048, (128,))
        x, y = x_all[idx], y_all[idx]
        params = {k: v.detach() for k, v in model.named_parameters()}
        grads = per_sample(params, x, y)
        for name, p in model.named_parameters():
            g = grads[name]
            norms = g.flatten(1).norm(dim=1).clamp(min=1e-6)
            g = g * (1.0 / norms).clamp(max=1.0).view(-1, *([1] * (g.dim() - 1)))
            p.grad = g.sum(0)
        opt.step()
        with torch.no_grad():
            loss = ((model(x) - y) ** 2).mean()
        if step % 10 == 0:
            print(step, float(loss))


if __name__ == "__main__":
    main()
