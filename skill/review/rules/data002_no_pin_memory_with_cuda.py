"""PT-DATA002 no-pin-memory-with-cuda."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, has_star_kwargs, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    dataloader_calls,
    file_may_use_cuda,
    loader_dataset,
    resolve_value,
)


class NoPinMemoryWithCuda(Rule):
    code = "PT-DATA002"
    name = "no-pin-memory-with-cuda"
    severity = Severity.low
    default_enabled = False  # micro-performance (host-to-device copy overlap), not a training bug: opt-in
    summary = "DataLoader feeding CUDA training without `pin_memory=True`"
    why = (
        "Copies from pageable host memory are staged through a pinned buffer and block the host; with "
        "pin_memory=True batches are collated into page-locked memory, the copy is faster and "
        "`.to(device, non_blocking=True)` can overlap it with compute (without pinning non_blocking does nothing)."
    )
    fix_text = "Pass `pin_memory=True` (or `pin_memory=(device.type == 'cuda')` for device-agnostic code)."
    bad = (
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "loader = DataLoader(ds, batch_size=64, num_workers=4)\n"
    )
    good = (
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "loader = DataLoader(ds, batch_size=64, num_workers=4, pin_memory=(device.type == 'cuda'))\n"
    )

    def check(self, ctx: Context):
        loaders = dataloader_calls(ctx)
        if not loaders or not file_may_use_cuda(ctx):
            return
        for call in loaders:
            if has_star_kwargs(call) or kwarg_value(call, "pin_memory") is not None:
                continue
            if self._dataset_on_device(ctx, loader_dataset(call)):
                continue
            yield self.report(ctx, call)

    @staticmethod
    def _dataset_on_device(ctx: Context, ds: ast.expr | None) -> bool:
        """Datasets that already hold CUDA tensors (`TensorDataset(x.to(device), ...)`): pinning fails on them."""
        value = resolve_value(ctx, ds) if ds is not None else None
        if not isinstance(value, ast.Call):
            return False
        for arg in value.args:
            arg_val = resolve_value(ctx, arg) if isinstance(arg, ast.Name) else arg
            for n in ast.walk(arg_val) if arg_val is not None else ():
                if isinstance(n, ast.Call) and callee_name(n) in {"to", "cuda"}:
                    return True
                if isinstance(n, ast.keyword) and n.arg == "device":
                    return True
        cls = ctx.classes_by_name.get(callee_name(value) or "")
        if cls is not None:
            for n in ast.walk(cls):
                if isinstance(n, ast.Call) and callee_name(n) in {"to", "cuda"}:
                    return True
        return False
