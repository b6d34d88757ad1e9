# doctor-expect: clean
# doctor-args:
# doctor-options:
# doctor-bug:
"""CPU autocast to bfloat16 only where the CPU has native bf16 (AVX512-BF16 / AMX), else plain fp32."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def cpu_has_native_bf16():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.LayerNorm(64), nn.Linear(64, 4))

    def forward(self, x):
        return self.net(x)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    use_bf16 = cpu_has_native_bf16()
    print("autocast bf16:", use_bf16, "| cpu capability:", torch.backends.cpu.get_cpu_capability())
    x = torch.randn(384, 32)
    y = (x[:, :4] + 0.1 * x[:, 4:8]).argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(3):
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
