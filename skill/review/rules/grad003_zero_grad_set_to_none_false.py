"""PT-GRAD003 zero-grad-set-to-none-false."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, keyword
from ..models import Edit, Severity
from ..rule import Rule, char_col


class ZeroGradSetToNoneFalse(Rule):
    code = "PT-GRAD003"
    name = "zero-grad-set-to-none-false"
    severity = Severity.low
    summary = "`zero_grad(set_to_none=False)` fills gradients with zeros instead of freeing them"
    why = (
        "Setting gradients to None frees their memory and lets the next backward write instead of add, "
        "saving a memset and a read per parameter. `set_to_none=True` has been the default since "
        "PyTorch 2.0, so `set_to_none=False` opts out of that for no benefit unless code reads `.grad` "
        "right after zeroing."
    )
    fix_text = "Call `optimizer.zero_grad()` (set_to_none=True is the default)."
    bad = "optimizer.zero_grad(set_to_none=False)\n"
    good = "optimizer.zero_grad()  # set_to_none=True by default\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        calls = ctx.calls("zero_grad")
        if calls and _adds_into_grad(ctx):
            return  # `p.grad += g` needs the zero tensors: with None it raises (parameter servers, manual all-reduce)
        for call in calls:
            kw = keyword(call, "set_to_none")
            if kw is None or const_value(kw.value) is not False:
                continue
            if _grad_read_before_backward(ctx, call):
                continue  # `p.grad.norm()` right after zeroing: with None gradients that line raises
            fix = None
            if not call.args and len(call.keywords) == 1:
                # drop everything between the parentheses: `zero_grad(set_to_none=False)` -> `zero_grad()`
                end_line, end_col = call.end_lineno, char_col(ctx, call.end_lineno, call.end_col_offset)
                open_line, open_col = call.func.end_lineno, char_col(ctx, call.func.end_lineno, call.func.end_col_offset)
                fix = self.make_fix(
                    "remove `set_to_none=False`",
                    [Edit(line=open_line, col=open_col + 1, end_line=end_line, end_col=end_col + 1, content="()")],
                )
            yield self.report(ctx, call, fix=fix)


def _is_grad(node: ast.AST) -> bool:
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr == "grad"


def _adds_into_grad(ctx: Context) -> bool:
    """The file updates `.grad` in place by hand: `p.grad += g`, `p.grad.add_(g)`, `p.grad.data.copy_(g)`."""
    for node in ctx.nodes(ast.AugAssign):
        if _is_grad(node.target):  # type: ignore[union-attr]
            return True
    for node in ctx.nodes(ast.Call):
        func = node.func  # type: ignore[union-attr]
        if isinstance(func, ast.Attribute) and func.attr.endswith("_") and not func.attr.startswith("_") \
                and func.attr not in {"zero_", "requires_grad_", "detach_"}:
            inner = func.value
            if isinstance(inner, ast.Attribute) and inner.attr == "data":
                inner = inner.value
            if _is_grad(inner):
                return True
    return False


def _grad_read_before_backward(ctx: Context, call: ast.Call) -> bool:
    """`.grad` is read after this zero_grad and before the next backward in the same function (or loop body):
    code that expects zero tensors there, not None."""
    from ..semantics import backward_calls

    scope = ctx.enclosing_function(call) or ctx.tree
    start = (call.lineno, call.col_offset)
    nxt = [(b.lineno, b.col_offset) for b in backward_calls(ctx)
           if (ctx.enclosing_function(b) or ctx.tree) is scope and (b.lineno, b.col_offset) > start]
    end = min(nxt) if nxt else None
    loops = ctx.loops_around(call)
    for node in ctx.nodes(ast.Attribute):
        if node.attr != "grad" or not isinstance(node.ctx, ast.Load):  # type: ignore[union-attr]
            continue
        if (ctx.enclosing_function(node) or ctx.tree) is not scope:
            continue
        parent = ctx.parent(node)
        if isinstance(parent, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in parent.ops):
            continue  # `if p.grad is None`: works either way
        pos = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        if pos > start and (end is None or pos < end):
            return True
        # in a loop, the part of the body before the zero_grad runs after it on the next iteration
        if loops and end is None and ctx.is_inside(node, loops[0]) and pos < start:
            return True
    return False
