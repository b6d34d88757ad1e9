"""PT-DEV001 hard-coded-cuda."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, keyword
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    gpu_only_by_design,
    is_cuda_availability_test,
    is_cuda_string,
    is_device_guarded,
)

# Calls whose `device`/first argument names a device *type* for autocasting or scaling, not a placement.
NOT_PLACEMENT = {
    "autocast", "GradScaler", "ShardedGradScaler", "add_argument", "set_defaults", "get", "getenv", "setdefault",
    "dict", "update", "SimpleNamespace", "Namespace", "EasyDict", "create", "format", "partial",
}
CONFIG_CALL_RE = re.compile(r"(Config|Args|Arguments|Options|Settings|Params)$")
DEVICE_VAR_RE = re.compile(r"(^|_)(device|dev)$", re.IGNORECASE)


class HardCodedCuda(Rule):
    code = "PT-DEV001"
    name = "hard-coded-cuda"
    severity = Severity.medium
    summary = "Tensor/module placed on CUDA unconditionally (no `torch.cuda.is_available()` fallback)"
    why = (
        "`.cuda()`, `.to('cuda')`, `torch.device('cuda')` or `device = 'cuda'` with no availability check "
        "crashes with 'Torch not compiled with CUDA enabled' / 'no CUDA GPUs are available' on CPU or MPS "
        "hosts and in CPU-only CI, although the code would otherwise run there."
    )
    fix_text = (
        "Pick the device once, `device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')`, "
        "and place everything with `.to(device)`."
    )
    bad = 'device = torch.device("cuda")\nx = x.cuda()\n'
    good = 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\nx = x.to(device)\n'

    def check(self, ctx: Context):
        if gpu_only_by_design(ctx) or _unconditional_cuda_fp16_recipe(ctx) or _requires_cuda_anyway(ctx):
            return
        found = list(self._placements(ctx))
        if found and _gpu_only_project(ctx):
            return
        lines: set[int] = set()
        for d in found:
            if d.line not in lines:  # `x, y = x.cuda(), y.cuda()` is one finding
                lines.add(d.line)
                yield d

    def _placements(self, ctx: Context):
        for call in ctx.calls("cuda"):
            if not isinstance(call.func, ast.Attribute):
                continue
            recv = dotted(call.func.value) or ""
            if recv == "torch" or recv.endswith(".cuda"):
                continue
            if call.args and not isinstance(call.args[0], ast.Constant):
                continue  # `.cuda(local_rank)` / `.cuda(args.gpu)`: per-rank placement in GPU-only DDP code
            if not self._guarded(ctx, call):
                yield self.report(ctx, call, "`.cuda()` with no CUDA-availability fallback")
        for call in ctx.calls("to"):
            if not isinstance(call.func, ast.Attribute):
                continue
            target = call.args[0] if call.args else None
            kw = keyword(call, "device")
            if kw is not None:
                target = kw.value
            if is_cuda_string(target) and not self._guarded(ctx, call):
                yield self.report(ctx, call, "`.to('cuda')` with no CUDA-availability fallback")
        for call in ctx.calls("device"):
            if ctx.call_qualname(call) != "torch.device" or not call.args:
                continue
            if len(call.args) > 1 and not isinstance(call.args[1], ast.Constant):
                continue  # torch.device("cuda", local_rank)
            if is_cuda_string(call.args[0]) and not self._guarded(ctx, call):
                yield self.report(ctx, call, "`torch.device('cuda')` with no CUDA-availability fallback")
        for call in ctx.calls("set_default_device"):
            if call.args and is_cuda_string(call.args[0]) and not self._guarded(ctx, call):
                yield self.report(ctx, call, "`torch.set_default_device('cuda')` with no CUDA-availability fallback")
        # device='cuda' given to factories and other placing calls
        for call in ctx.nodes(ast.Call):
            if not call.keywords:  # type: ignore[attr-defined]
                continue
            kw = keyword(call, "device")  # type: ignore[arg-type]
            if kw is None or not is_cuda_string(kw.value):
                continue
            name = callee_name(call)  # type: ignore[arg-type]
            q = ctx.call_qualname(call) or ""  # type: ignore[arg-type]
            if name in NOT_PLACEMENT or name == "to" or q.startswith("torch.cuda.") or "amp." in q:
                continue
            if name and CONFIG_CALL_RE.search(name):  # a config object's default, like an argparse default
                continue
            if not self._guarded(ctx, call):
                yield self.report(ctx, call, "`device='cuda'` with no CUDA-availability fallback")
        # device = "cuda" placement variable
        for stmt in ctx.nodes(ast.Assign, ast.AnnAssign):
            value = stmt.value  # type: ignore[attr-defined]
            if not is_cuda_string(value):
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # type: ignore[attr-defined]
            names = [dotted(t) for t in targets if isinstance(t, (ast.Name, ast.Attribute))]
            names = [n for n in names if n and DEVICE_VAR_RE.search(n.rsplit(".", 1)[-1])]
            if not names:
                continue
            if isinstance(ctx.parent(stmt), ast.ClassDef):
                continue  # a config class field default, like an argparse default
            if not self._guarded(ctx, stmt, names[0]):
                yield self.report(ctx, stmt, "`device = 'cuda'` with no CUDA-availability fallback", whole=True)

    def _guarded(self, ctx: Context, node: ast.AST, var: str | None = None) -> bool:
        if is_device_guarded(ctx, node) or _default_every_caller_overrides(ctx, node):
            return True
        if var is None:
            # `device = torch.device("cuda")` assigned to a variable that is re-chosen under a check
            stmt = ctx.statement_of(node)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    name = dotted(t) if isinstance(t, (ast.Name, ast.Attribute)) else None
                    if name and stmt.value is not None and ctx.is_inside(node, stmt.value) and self._var_checked(ctx, name, stmt):
                        return True
            return False
        return self._var_checked(ctx, var, ctx.statement_of(node))

    def _var_checked(self, ctx: Context, var: str, stmt: ast.AST | None) -> bool:
        """Is the variable re-assigned under a device check, or tested together with availability?"""
        from ..semantics import name_bindings

        for other, value in name_bindings(ctx).get(var, ()):
            if other is stmt:
                continue
            if is_device_guarded(ctx, other) or (value is not None and is_cuda_availability_test(ctx, value)):
                return True
        head = var.split(".")[0]
        for node in ctx.nodes(ast.If, ast.IfExp, ast.Assert):
            test = node.test  # type: ignore[attr-defined]
            if is_cuda_availability_test(ctx, test) and any(
                (dotted(n) or "") in {var, head} for n in ast.walk(test) if isinstance(n, (ast.Name, ast.Attribute))
            ):
                return True
        return False


def _default_params(ctx: Context) -> dict[int, tuple[ast.AST, str, int | None]]:
    """id(default expression) -> (function, parameter name, positional index or None for keyword-only)."""
    cache = ctx.__dict__.get("_pp_dev001_defaults")
    if cache is None:
        cache = {}
        for fn in ctx.nodes(ast.FunctionDef, ast.AsyncFunctionDef):
            a = fn.args  # type: ignore[union-attr]
            positional = [*a.posonlyargs, *a.args]
            for i, default in enumerate(a.defaults):
                idx = len(positional) - len(a.defaults) + i
                cache[id(default)] = (fn, positional[idx].arg, idx)
            for arg, default in zip(a.kwonlyargs, a.kw_defaults):
                if default is not None:
                    cache[id(default)] = (fn, arg.arg, None)
        ctx.__dict__["_pp_dev001_defaults"] = cache
    return cache


def _default_every_caller_overrides(ctx: Context, node: ast.AST) -> bool:
    """`def train_one_epoch(..., device=torch.device("cuda"))` whose every call passes `device`.

    A default that no call of the reviewed code relies on places nothing; with no call at all in the reviewed
    code (a library function) the callers are unknown and nothing is reported either.
    """
    from ..semantics import call_sites

    entry = _default_params(ctx).get(id(node))
    if entry is None:
        return False
    fn, name, idx = entry
    first = fn.args.posonlyargs[0].arg if fn.args.posonlyargs else (fn.args.args[0].arg if fn.args.args else "")  # type: ignore[attr-defined]
    bound_self = first in {"self", "cls"}
    for call in call_sites(ctx, fn):
        if any(k.arg == name or k.arg is None for k in call.keywords):
            continue  # passed by keyword, or maybe through **kwargs
        pos = len(call.args) + (1 if bound_self and isinstance(call.func, ast.Attribute) else 0)
        if any(isinstance(a, ast.Starred) for a in call.args) or (idx is not None and pos > idx):
            continue
        return False
    return True


NCCL_RE = re.compile(r"""["']nccl["']""")
MPS_RE = re.compile(r"""["']mps["']|\bbackends\.mps\b""")


def _gpu_only_project(ctx: Context) -> bool:
    """A file of a GPU-only project: it has no CUDA-availability test of its own, and the distributed setup next
    to it (a file of its folder or the folder above, or a project module it imports) is NCCL-only, as in DINO,
    MoCo or SwAV, whose `utils.init_distributed_mode` / `main_*.py` use `backend="nccl"`."""
    import os

    proj = getattr(ctx, "_project", None)
    if proj is None or not getattr(proj, "paths", None) or ctx.filename in ("-", "<string>"):
        return False
    if ctx.calls("is_available", "device_count") or MPS_RE.search(ctx.source):
        return False
    here = os.path.dirname(os.path.abspath(ctx.filename))
    near = {here, os.path.dirname(here)}
    candidates = [p for p in proj.paths if os.path.dirname(p) in near and p != os.path.abspath(ctx.filename)]
    for q in set(ctx.imports.values()):
        mod = q.rsplit(".", 1)[0] if "." in q else q
        for name in (q, mod):
            try:
                path = proj.module_file(ctx, name)
            except Exception:  # noqa: BLE001 -- an unresolvable import is simply not a candidate
                path = None
            if path:
                candidates.append(path)
    cache = proj.__dict__.setdefault("_pp_dev001_nccl", {})
    for path in candidates:
        if path not in cache:
            text = proj.text(path) or ""
            cache[path] = bool(NCCL_RE.search(text))
        if cache[path]:
            return True
    return False


def _unconditional_cuda_fp16_recipe(ctx: Context) -> bool:
    """A CUDA GradScaler built with no `enabled=` switch and outside any availability check: the script is an
    fp16-on-GPU recipe (it cannot train as written on CPU), so a hard-coded CUDA device is its intent."""
    for call in ctx.calls("GradScaler"):
        q = ctx.call_qualname(call) or ""
        if q == "torch.amp.GradScaler" or q.endswith("amp.grad_scaler.GradScaler"):
            device = call.args[0] if call.args else keyword(call, "device")
            device = device.value if isinstance(device, ast.keyword) else device
            if not is_cuda_string(device):
                continue
        elif q != "torch.cuda.amp.GradScaler":
            continue
        if keyword(call, "enabled") is not None or is_device_guarded(ctx, call):
            continue
        stmt = ctx.statement_of(call)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        names = {dotted(t) for t in targets} - {None}
        if any(dotted(c.func.value) in names for c in ctx.calls("scale") if isinstance(c.func, ast.Attribute)):
            return True  # the scaler really scales a loss: fp16 training
    return False


def _requires_cuda_anyway(ctx: Context) -> bool:
    """An unguarded `torch.cuda.synchronize()` (or a device query) that raises without a GPU: the script cannot
    run on CPU whatever its placement calls say, so a hard-coded CUDA device adds nothing to fix."""
    for call in ctx.calls("synchronize", "get_device_name", "get_device_properties", "current_device"):
        if (ctx.call_qualname(call) or "").startswith("torch.cuda.") and not is_device_guarded(ctx, call):
            return True
    return False
