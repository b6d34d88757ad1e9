"""PT-GRAD008 data-inplace-in-forward."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from ..semantics import in_no_grad, is_module_like_class

NON_MUTATING_UNDERSCORE = {"requires_grad_", "share_memory_", "retain_grad_", "record_stream_", "detach_"}


def _local_base(attr: ast.Attribute) -> str | None:
    """`out` for `out.data` / `h[0].data`; None for `self.buf.data` (buffers, EMA tables) and other attributes."""
    base = attr.value
    while isinstance(base, ast.Subscript):
        base = base.value
    if isinstance(base, ast.Name) and base.id not in {"self", "cls"}:
        return base.id
    return None


class DataInplaceInForward(Rule):
    code = "PT-GRAD008"
    name = "data-inplace-in-forward"
    severity = Severity.high
    summary = "In-place update through `.data` inside `forward()` on a value on the autograd graph"
    why = (
        "`.data` is an alias autograd does not track: `out.data += h` or `out.data.add_(h)` changes the "
        "forward value, but the graph still describes `out` without `h`, so backward silently sends no "
        "gradient through that term (the layers that produced `h` never learn from it) and any op that "
        "saved `out` computes its gradient from the modified value without the version check firing."
    )
    fix_text = "Write it out of place so autograd sees it: `out = out + h` (or `out.add_(h)` without `.data` if nothing saved `out`)."
    bad = (
        "import torch.nn as nn\n\nclass Residual(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
        "        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)\n\n    def forward(self, x):\n"
        "        out = self.fc1(x)\n        out.data += self.fc2(x)\n        return out\n"
    )
    good = (
        "import torch.nn as nn\n\nclass Residual(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
        "        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)\n\n    def forward(self, x):\n"
        "        out = self.fc1(x)\n        out = out + self.fc2(x)\n        return out\n"
    )

    def check(self, ctx: Context):
        for fn in ctx.functions_by_name.get("forward", ()):
            cls = ctx.enclosing_class(fn)
            if cls is None or not is_module_like_class(ctx, cls):
                continue
            params = {a.arg for a in fn.args.args[1:] + fn.args.kwonlyargs}
            for node in ast.walk(fn):
                hit = self._inplace_data(node)
                if hit is None:
                    continue
                attr, name = hit
                if in_no_grad(ctx, node) or ctx.enclosing_function(node) is not fn:
                    continue
                if name not in params and not self._bound_in(fn, name):
                    continue
                yield self.report_at(
                    ctx, node.lineno, node.col_offset,  # type: ignore[attr-defined]
                    f"in-place update of `{name}` through `.data` in forward(): autograd does not see it, so no gradient "
                    f"flows through the added term; write `{name} = {name} + ...`",
                )

    @staticmethod
    def _inplace_data(node: ast.AST) -> tuple[ast.Attribute, str] | None:
        target = None
        if isinstance(node, ast.AugAssign):
            target = node.target
            while isinstance(target, ast.Subscript):
                target = target.value
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
            meth = node.value.func.attr
            if meth.endswith("_") and not meth.endswith("__") and meth not in NON_MUTATING_UNDERSCORE:
                target = node.value.func.value
                while isinstance(target, ast.Subscript):
                    target = target.value
        if isinstance(target, ast.Attribute) and target.attr == "data":
            name = _local_base(target)
            if name:
                return target, name
        return None

    @staticmethod
    def _bound_in(fn: ast.AST, name: str) -> bool:
        """A local computed in forward (not a detached copy)."""
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
                v = n.value
                if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "detach":
                    return False
                return True
            if isinstance(n, ast.Assign) and any(name in {e.id for e in ast.walk(t) if isinstance(e, ast.Name)} for t in n.targets):
                return True
        return False
