"""Grad mode: where autograd is disabled (`no_grad`, `inference_mode`, `set_grad_enabled(False)`, decorators) and backward calls.
"""

from __future__ import annotations

import ast

from .analysis import Context, callee_name, dotted, kwarg_value
from .torch_tables import (
    NO_GRAD_CALLS,
)

def is_grad_disabling_with_item(ctx: Context, item: ast.withitem) -> bool:
    """`with torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(False)`."""
    expr = item.context_expr
    if not isinstance(expr, ast.Call):
        return False
    name = callee_name(expr)
    if name in NO_GRAD_CALLS:
        mode = expr.args[0] if expr.args else kwarg_value(expr, "mode")
        return not (name == "inference_mode" and mode is not None and isinstance(mode, ast.Constant) and mode.value is False)
    if name == "set_grad_enabled":
        arg = expr.args[0] if expr.args else kwarg_value(expr, "mode")
        return isinstance(arg, ast.Constant) and arg.value is False
    return False


def has_grad_disabling_decorator(ctx: Context, fn: ast.AST) -> bool:
    for dec in getattr(fn, "decorator_list", ()):
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = dotted(target) or ""
        last = name.rsplit(".", 1)[-1]
        if last in NO_GRAD_CALLS:
            return True
        # project wrappers named for what they apply: yolov5's `@smart_inference_mode()`, `@torch_no_grad`
        if last.endswith(("_inference_mode", "_no_grad")) and not last.startswith(("not_", "without_", "no_no")):
            return True
    return False


def in_no_grad(ctx: Context, node: ast.AST) -> bool:
    """Is `node` lexically inside a grad-disabled region (with-block or decorated function)?

    Looks through enclosing functions too (a nested function defined under no_grad runs there only
    if called there, but that is the common closure case).
    """
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)) and child in anc.body:
            if any(is_grad_disabling_with_item(ctx, it) for it in anc.items):
                return True
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_grad_disabling_decorator(ctx, anc):
            return True
        child = anc
    return False


def backward_calls(ctx: Context) -> list[ast.Call]:
    """`loss.backward()`, `scaler.scale(loss).backward()`, `torch.autograd.backward(...)`."""
    return [c for c in ctx.calls("backward") if isinstance(c.func, ast.Attribute)]


def maybe_grad_disabled(ctx: Context, node: ast.AST) -> bool:
    """in_no_grad, plus `with ctx:` whose expression mentions grad/inference (a chosen context object)."""
    if in_no_grad(ctx, node):
        return True
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)) and child in anc.body:
            for it in anc.items:
                text = ctx.segment(it.context_expr).lower()
                if ("grad" in text or "inference" in text) and "enable_grad" not in text and "set_grad_enabled" not in text:
                    return True
        child = anc
    return False
