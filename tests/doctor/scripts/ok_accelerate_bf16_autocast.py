# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""accelerate-style wrapper with mixed_precision="bf16" on CPU (autocast only where the CPU has native bf16)."""
import contextlib

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def cpu_has_native_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Accel:
    def __init__(self, mixed_precision="no", gradient_accumulation_steps=1):
        self.bf16 = mixed_precision == "bf16" and cpu_has_native_bf16()
        self.k = gradient_accumulation_steps
        self._n = 0

    def prepare(self, *objs):
        return objs

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def backward(self, loss):
        (loss / self.k).backward()

    @property
    def sync_gradients(self):
        return self._n % self.k == 0

    @contextlib.contextmanager
    def accumulate(self):
        self._n += 1
        yield

    def clip_grad_norm_(self, params, max_norm):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    acc = Accel(mixed_precision="bf16", gradient_accumulation_steps=2)
    x = torch.randn(512, 16)
    y = (x[:, :4].sum(-1) > 0).long()
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model, opt, loader = acc.prepare(model, opt, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
    for epoch in range(2):
        for xb, yb in loader:
            with acc.accumulate():
                with acc.autocast():
                    loss = nn.functional.cross_entropy(model(xb).float(), yb)
                acc.backward(loss)
                if acc.sync_gradients:
                    acc.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    opt.zero_grad()
        print(epoch, loss.item(), "bf16" if acc.bf16 else "fp32")
