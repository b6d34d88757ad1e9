"""Prototype: a linear softmax classifier with a hand-written Adam step."""

import torch


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    return logits - torch.log(torch.sum(torch.exp(logits), dim=1, keepdim=True))


def adam_step(params, grads, m, v, t: int, lr: float = 1e-2, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
    for p, g, m_i, v_i in zip(params, grads, m, v):
        m_i.mul_(b1).add_(g, alpha=1 - b1)
        v_i.mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat = m_i / (1 - b1**t)
        v_hat = v_i / (1 - b2**t)
        p.data -= lr * m_hat / (torch.sqrt(v_hat) + eps)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(5000, 20)
    y = torch.randint(0, 3, (5000,))
    w = torch.zeros(20, 3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    m = [torch.zeros_like(w), torch.zeros_like(b)]
    v = [torch.zeros_like(w), torch.zeros_like(b)]
    for t in range(1, 201):
        logp = log_softmax(x @ w + b)  # (N, 3)
        loss = -logp.gather(1, y[:, None]).mean()
        grads = torch.autograd.grad(loss, [w, b])
        adam_step([w, b], grads, m, v, t)
        if t % 50 == 0:
            grad_rms = torch.cat([g.flatten() for g in grads]).pow(2).mean() / torch.sqrt(torch.tensor(2.0))
            print(f"step {t}: loss {loss.item():.4f} grad rms {grad_rms.item():.2e}")


if __name__ == "__main__":
    main()
