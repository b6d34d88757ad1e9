"""PT-AMP003 deprecated-cuda-amp-namespace."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted, has_star_kwargs
from ..models import Severity
from ..rule import Rule, replace_node
from ..semantics import calls_of, insert_first_argument, module_alias

# deprecated name -> (device, replacement kind)
DEPRECATED = {
    "torch.cuda.amp.autocast": ("cuda", "autocast"),
    "torch.cpu.amp.autocast": ("cpu", "autocast"),
    "torch.cuda.amp.GradScaler": ("cuda", "GradScaler"),
    "torch.cpu.amp.GradScaler": ("cpu", "GradScaler"),
    "torch.cuda.amp.custom_fwd": ("cuda", "custom_fwd"),
    "torch.cuda.amp.custom_bwd": ("cuda", "custom_bwd"),
    # the same objects reached through their defining submodules
    "torch.cuda.amp.autocast_mode.autocast": ("cuda", "autocast"),
    "torch.cuda.amp.grad_scaler.GradScaler": ("cuda", "GradScaler"),
    "torch.cuda.amp.autocast_mode.custom_fwd": ("cuda", "custom_fwd"),
    "torch.cuda.amp.autocast_mode.custom_bwd": ("cuda", "custom_bwd"),
}
DEPRECATED_NAMES = frozenset(DEPRECATED)
LAST_NAMES = {"autocast", "GradScaler", "custom_fwd", "custom_bwd"}
NEW_NAME = {
    "autocast": "autocast",
    "GradScaler": "amp.GradScaler",
    "custom_fwd": "amp.custom_fwd",
    "custom_bwd": "amp.custom_bwd",
}


class DeprecatedCudaAmpNamespace(Rule):
    code = "PT-AMP003"
    name = "deprecated-cuda-amp-namespace"
    severity = Severity.low
    summary = "`torch.cuda.amp.*` / `torch.cpu.amp.*` is deprecated; use `torch.autocast(device)` / `torch.amp.*`"
    why = (
        "`torch.cuda.amp.autocast`, `GradScaler`, `custom_fwd`, `custom_bwd` and `torch.cpu.amp.autocast` "
        "emit a FutureWarning on every use and will be removed. The device-generic `torch.autocast(\"cuda\")`, "
        "`torch.amp.GradScaler(\"cuda\")` and `torch.amp.custom_fwd(device_type=\"cuda\")` behave the same."
    )
    fix_text = (
        'Use `torch.autocast("cuda", ...)`, `torch.amp.GradScaler("cuda", ...)`, '
        '`torch.amp.custom_fwd(device_type="cuda")` / `torch.amp.custom_bwd(device_type="cuda")`.'
    )
    bad = "import torch\n\nscaler = torch.cuda.amp.GradScaler()\nwith torch.cuda.amp.autocast():\n    pass\n"
    good = 'import torch\n\nscaler = torch.amp.GradScaler("cuda")\nwith torch.autocast("cuda"):\n    pass\n'
    fix_applicability = "safe"

    def check(self, ctx: Context):
        if not any(word in ctx.source for word in ("autocast", "GradScaler", "custom_fwd", "custom_bwd")):
            return
        seen: set[int] = set()
        for call in calls_of(ctx, DEPRECATED_NAMES):
            target = DEPRECATED[ctx.call_qualname(call) or ""]
            seen.add(id(call.func))
            if in_version_fallback(ctx, call) or _fallback_import_name(ctx, call.func):
                continue
            yield self.report(ctx, call, fix=self._fix_call(ctx, call, *target))
        # bare decorators: `@torch.cuda.amp.custom_fwd`
        for fn in ctx.nodes(ast.FunctionDef, ast.AsyncFunctionDef):
            for dec in fn.decorator_list:  # type: ignore[union-attr]
                if isinstance(dec, ast.Call) or id(dec) in seen:
                    continue
                target = DEPRECATED.get(ctx.qualname(dec) or "")
                if target is None or in_version_fallback(ctx, dec):
                    continue
                seen.add(id(dec))
                yield self.report(ctx, dec, fix=self._fix_decorator(ctx, dec, *target))
        # other references: `amp_ctx = torch.cuda.amp.autocast`, `partial(torch.cuda.amp.autocast, ...)`
        for node in ctx.nodes(ast.Attribute):
            if node.attr not in LAST_NAMES or id(node) in seen:  # type: ignore[union-attr]
                continue
            parent = ctx.parent(node)
            if isinstance(parent, ast.Call) and parent.func is node:
                continue
            if DEPRECATED.get(ctx.qualname(node) or "") is not None and not in_version_fallback(ctx, node):
                yield self.report(ctx, node)

    def _new_callee(self, ctx: Context, func: ast.expr, kind: str) -> str | None:
        torch = module_alias(ctx, "torch")
        return f"{torch}.{NEW_NAME[kind]}" if torch else None

    def _fix_call(self, ctx: Context, call: ast.Call, device: str, kind: str):
        new = self._new_callee(ctx, call.func, kind)
        if new is None:
            return None
        if kind == "autocast":
            # positional args of the old class are (enabled, dtype, ...): they would land on new parameters
            if call.args or has_star_kwargs(call):
                return None
            first = f'"{device}"'
        elif kind == "GradScaler":
            if any(kw.arg == "device" for kw in call.keywords) or has_star_kwargs(call):
                return None
            first = f'"{device}"'
        else:  # custom_fwd(cast_inputs=...) used as a decorator factory
            if call.args or has_star_kwargs(call) or any(kw.arg == "device_type" for kw in call.keywords):
                return None
            first = f'device_type="{device}"'
        insert = insert_first_argument(ctx, call, first)
        if insert is None:
            return None
        edits = [replace_node(ctx, call.func, new), insert]
        return self.make_fix(f"use `{new}({first}, ...)`", edits)

    def _fix_decorator(self, ctx: Context, dec: ast.expr, device: str, kind: str):
        if kind not in {"custom_fwd", "custom_bwd"} or dotted(dec) is None:
            return None
        new = self._new_callee(ctx, dec, kind)
        if new is None:
            return None
        text = f'{new}(device_type="{device}")'
        return self.make_fix(f"use `@{text}`", [replace_node(ctx, dec, text)])


VERSION_WORDS = ("__version__", "version", "TORCH_", "is_torch_")
FALLBACK_ERRORS = {"ImportError", "ModuleNotFoundError", "AttributeError", "TypeError"}


def _is_version_test(test: ast.AST) -> bool:
    """`version.parse(torch.__version__) >= ...`, `hasattr(torch.amp, "GradScaler")`, `TORCH_GE_2_3`..."""
    for n in ast.walk(test):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in {"hasattr", "getattr"}:
            if n.args and (dotted(n.args[0]) or "").split(".")[0] in {"torch", "amp"}:
                return True  # `hasattr(torch.amp, "GradScaler")`, not `hasattr(model, "module")`
            continue
        text = n.attr if isinstance(n, ast.Attribute) else n.id if isinstance(n, ast.Name) else ""
        if text and any(w.lower() in text.lower() for w in VERSION_WORDS):
            return True
    return False


def in_version_fallback(ctx: Context, node: ast.AST) -> bool:
    """The old API is the fallback of a version-compatibility switch: a branch of an `if`/conditional expression
    on the torch version or on `hasattr(...)`, or the handler of `except ImportError/AttributeError`."""
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.If, ast.IfExp)) and child is not anc.test and _is_version_test(anc.test):
            return True
        if isinstance(anc, ast.ExceptHandler):
            names = {dotted(t) for t in (anc.type.elts if isinstance(anc.type, ast.Tuple) else [anc.type])} if anc.type else set()
            if anc.type is None or names & FALLBACK_ERRORS or "Exception" in names:
                return True
        if isinstance(child, ast.stmt) and _after_early_return_switch(anc, child):
            return True
        child = anc
    return False


def _fallback_import_name(ctx: Context, func: ast.expr) -> bool:
    """`GradScaler(...)` where the name `GradScaler` is imported from the old namespace only in a version fallback
    (`try: from torch.amp import GradScaler` / `except ImportError: from torch.cuda.amp import GradScaler`): on a
    current torch the call reaches the new API."""
    if not isinstance(func, ast.Name):
        return False
    for imp in ctx.nodes(ast.ImportFrom):
        if any((a.asname or a.name) == func.id for a in imp.names) and in_version_fallback(ctx, imp):  # type: ignore[attr-defined]
            return True
    return False


def _after_early_return_switch(block: ast.AST, stmt: ast.stmt) -> bool:
    """`if <version test>: return new_api(...)` earlier in the same block: `stmt` is the old-torch path."""
    for field in ("body", "orelse", "finalbody"):
        body = getattr(block, field, None)
        if isinstance(body, list) and stmt in body:
            for prev in body[: body.index(stmt)]:
                if isinstance(prev, ast.If) and _is_version_test(prev.test) and prev.body \
                        and isinstance(prev.body[-1], (ast.Return, ast.Raise)):
                    return True
    return False
