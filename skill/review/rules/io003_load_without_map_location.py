"""PT-IO003 load-without-map-location."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, has_star_kwargs, keyword
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    TORCH_LOAD,
    calls_of,
    gpu_only_by_design,
    is_device_guarded,
    is_test_function,
    is_torch_load,
)


class LoadWithoutMapLocation(Rule):
    code = "PT-IO003"
    name = "load-without-map-location"
    severity = Severity.low
    summary = "`torch.load` without `map_location` in device-agnostic code"
    why = (
        "torch.load restores tensors onto the device they were saved from. A checkpoint written on a GPU then "
        "fails to load on a CPU-only host ('Attempting to deserialize object on a CUDA device') or lands on "
        "GPU 0 for every rank."
    )
    fix_text = "Pass `map_location=device` (or 'cpu' and move the model afterwards)."
    bad = (
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "state = torch.load(path, weights_only=True)\n"
    )
    good = (
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "state = torch.load(path, map_location=device, weights_only=True)\n"
    )

    def check(self, ctx: Context):
        loads = [c for c in calls_of(ctx, TORCH_LOAD) if is_torch_load(ctx, c)]
        if not loads or not self._device_agnostic(ctx):
            return
        for call in loads:
            if len(call.args) >= 2 or keyword(call, "map_location") is not None or has_star_kwargs(call):
                continue
            if is_device_guarded(ctx, call):
                continue  # a GPU-only (or CPU-only) branch
            if call.args and isinstance(call.args[0], ast.Call) and callee_name(call.args[0]) == "BytesIO":
                continue  # bytes serialised in this process, not a checkpoint from another host
            if is_test_function(ctx, ctx.enclosing_function(call)):
                continue  # a unit test reloads what it saved a moment ago, on the same machine
            if _cpu_saved_cache(ctx, call):
                continue  # a cache this file writes as CPU tensors (`torch.save(feats.cpu(), ".../feats.pth")`)
            yield self.report(ctx, call)

    @staticmethod
    def _device_agnostic(ctx: Context) -> bool:
        """The file chooses its device at run time (availability checks, a `device` variable)."""
        if gpu_only_by_design(ctx):
            return False
        for call in ctx.calls("is_available", "device_count"):
            if "cuda" in (ctx.call_qualname(call) or ""):
                return True
        for call in ctx.calls("device"):
            if ctx.call_qualname(call) == "torch.device" and call.args and not isinstance(call.args[0], ast.Constant):
                return True
        for call in ctx.calls("to"):
            if call.args and isinstance(call.args[0], (ast.Name, ast.Attribute)) and callee_name(call) == "to":
                name = ast.unparse(call.args[0])
                if name.rsplit(".", 1)[-1] in {"device", "dev"}:
                    return True
        return False


CPU_RESULTS = {"cpu", "numpy", "tolist", "item"}


def _literals(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value}


def _on_cpu(node: ast.AST) -> bool:
    """`x.cpu()`, `x.detach().cpu()`, `{k: v.cpu() ...}`, `[t.cpu() for t in ...]`: host tensors only."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in CPU_RESULTS
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return _on_cpu(node.elt)
    if isinstance(node, ast.DictComp):
        return _on_cpu(node.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        return bool(node.elts) and all(_on_cpu(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return bool(node.values) and all(v is not None and _on_cpu(v) for v in node.values)
    return False


def _cpu_saved_cache(ctx: Context, load: ast.Call) -> bool:
    """Every `torch.save` of this file that writes the loaded file's name saves CPU tensors."""
    if not load.args:
        return False
    names = {s for s in _literals(load.args[0]) if "." in s or "/" in s}
    if not names:
        return False
    saves = [c for c in ctx.calls("save") if (ctx.call_qualname(c) or "").startswith("torch.") and len(c.args) >= 2]
    matching = [c for c in saves if names & _literals(c.args[1])]
    return bool(matching) and all(_on_cpu(c.args[0]) for c in matching)
