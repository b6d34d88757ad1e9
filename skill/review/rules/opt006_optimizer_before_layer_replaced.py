"""PT-OPT006 optimizer-before-layer-replaced."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import walk_scope
from ._trainloop import role_of_value

PARAMLESS = {
    "Identity", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Dropout", "Dropout2d", "Flatten",
    "AdaptiveAvgPool2d", "AdaptiveAvgPool1d", "AvgPool2d", "MaxPool2d", "Upsample", "LeakyReLU", "ELU", "Mish",
}


def _builds_module(ctx: Context, value: ast.AST) -> bool:
    """`nn.Linear(...)`, `nn.Sequential(nn.Dropout(), nn.Linear(...))`, a module class of this file."""
    if not isinstance(value, ast.Call):
        return False
    name = callee_name(value) or ""
    if name in {"to", "cuda"} and isinstance(value.func, ast.Attribute):
        return _builds_module(ctx, value.func.value)
    if name in PARAMLESS:
        return False
    if name == "Sequential":
        return any(_builds_module(ctx, a) for a in value.args)
    q = ctx.call_qualname(value) or ""
    if q.startswith(("torch.nn.", "nn.")) and name[:1].isupper():
        return True
    return name in ctx.module_class_names


class OptimizerBeforeLayerReplaced(Rule):
    code = "PT-OPT006"
    name = "optimizer-before-layer-replaced"
    severity = Severity.high
    summary = "A layer is replaced after the optimizer was built from `model.parameters()`: the new layer is never trained"
    why = (
        "The optimizer holds references to the parameter tensors that existed when it was built. Assigning "
        "`model.fc = nn.Linear(...)` afterwards creates new parameters the optimizer does not know: they keep "
        "their random initialisation (a fine-tuning head that never learns) while the old, detached layer is updated."
    )
    fix_text = "Replace or add layers first, then build the optimizer (or `optimizer.add_param_group({'params': model.fc.parameters()})`)."
    bad = (
        "import torch\n"
        "import torch.nn as nn\n"
        "import torchvision\n\n"
        "model = torchvision.models.resnet18(weights='DEFAULT')\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n"
        "model.fc = nn.Linear(model.fc.in_features, 10)\n"
    )
    good = (
        "import torch\n"
        "import torch.nn as nn\n"
        "import torchvision\n\n"
        "model = torchvision.models.resnet18(weights='DEFAULT')\n"
        "model.fc = nn.Linear(model.fc.in_features, 10)\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("parameters"):
            return
        # only the scopes that build something from `m.parameters()` (`x = Opt(m.parameters(), ...)`) can
        # report: found from the `parameters` calls up, instead of walking every function of the file
        wanted = _scopes_building_from_parameters(ctx)
        scopes = [sc for sc in (ctx.tree, *ctx.nodes(ast.FunctionDef, ast.AsyncFunctionDef)) if id(sc) in wanted]
        for scope in scopes:
            stmts = [n for n in walk_scope(scope) if isinstance(n, ast.Assign)]
            stmts.sort(key=lambda n: (n.lineno, n.col_offset))
            built: list[tuple[ast.Assign, str, str]] = []  # (assign, optimizer name, model name)
            for a in stmts:
                model = self._optimizer_over(ctx, a.value)
                if model is not None:
                    for t in a.targets:
                        if dotted(t):
                            built = [b for b in built if b[1] != dotted(t)]
                            built.append((a, dotted(t), model))  # type: ignore[arg-type]
                    continue
                for t in a.targets:
                    # `model.fc = ...`, and `model.classifier[1] = ...` / `model[-1] = ...` (an entry of a Sequential)
                    base = t.value if isinstance(t, ast.Subscript) else t
                    name = dotted(base)
                    if not isinstance(t, (ast.Attribute, ast.Subscript)) or not name:
                        continue
                    for opt_assign, opt_name, model in built:
                        inside = name.startswith(model + ".") or (isinstance(t, ast.Subscript) and name == model)
                        if not inside or not _builds_module(ctx, a.value):
                            continue
                        if self._added_later(ctx, scope, opt_name, a):
                            continue
                        yield self.report(
                            ctx, a,
                            f"`{name}` is replaced after `{opt_name}` was built from `{model}.parameters()` "
                            f"(line {opt_assign.lineno}): the new layer's parameters are never optimized",
                        )
                        break

    @staticmethod
    def _optimizer_over(ctx: Context, value: ast.AST) -> str | None:
        """The model `m` of `Opt(m.parameters(), ...)`."""
        if role_of_value(ctx, value) != "optimizer" or not isinstance(value, ast.Call) or not value.args:
            return None
        first = value.args[0]
        if isinstance(first, ast.Call) and callee_name(first) == "parameters" and isinstance(first.func, ast.Attribute):
            return dotted(first.func.value)
        return None

    @staticmethod
    def _added_later(ctx: Context, scope: ast.AST, opt_name: str, at: ast.AST) -> bool:
        for n in walk_scope(scope):
            if isinstance(n, ast.Call) and callee_name(n) == "add_param_group" and dotted(n.func.value) == opt_name:  # type: ignore[attr-defined]
                return True
            if isinstance(n, ast.Assign) and (n.lineno, n.col_offset) > (at.lineno, at.col_offset):  # type: ignore[attr-defined]
                if any(dotted(t) == opt_name for t in n.targets):
                    # rebuilt after the replacement: harmless unless the stale optimizer trains in between
                    return not _used_between(scope, opt_name, at, n)
        return False


def _used_between(scope: ast.AST, opt_name: str, start: ast.AST, end: ast.AST) -> bool:
    lo, hi = (start.lineno, start.col_offset), (end.lineno, end.col_offset)  # type: ignore[attr-defined]
    for n in walk_scope(scope):
        if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(getattr(n, "ctx", None), ast.Load):
            if dotted(n) == opt_name and lo < (n.lineno, n.col_offset) < hi:
                return True
    return False


def _scopes_building_from_parameters(ctx: Context) -> set[int]:
    """ids of the function/module scopes whose own statements (`walk_scope`) hold an assignment
    `x = f(m.parameters(), ...)` (what `_optimizer_over` can accept)."""
    out: set[int] = set()
    for p in ctx.calls("parameters"):
        call = ctx.parent(p)
        if not isinstance(call, ast.Call) or not call.args or call.args[0] is not p:
            continue
        assign = ctx.parent(call)
        if not isinstance(assign, ast.Assign) or assign.value is not call:
            continue
        for anc in ctx.ancestors(assign):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
                out.add(id(anc))
                break
            if isinstance(anc, (ast.ClassDef, ast.Lambda)):
                break
    return out
