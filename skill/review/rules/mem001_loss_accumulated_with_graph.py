"""PT-MEM001 loss-accumulated-with-graph."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    accumulation_loops,
    backward_receiver_names,
    is_graph_attached,
    maybe_grad_disabled,
    walk_scope,
)


class LossAccumulatedWithGraph(Rule):
    code = "PT-MEM001"
    name = "loss-accumulated-with-graph"
    severity = Severity.high
    summary = "a loss tensor is accumulated across iterations without `.item()`/`.detach()`: every step's graph stays alive"
    why = (
        "`total_loss += loss` keeps a reference to `loss`'s autograd graph inside the accumulator, and the "
        "sum links each iteration's graph to the next. None of them can be freed until the accumulator "
        "dies, so memory grows every step until the epoch ends or the process runs out of memory."
    )
    fix_text = "Accumulate `loss.item()` (a float) or `loss.detach()` (stays on the device, no sync)."
    bad = (
        "total_loss = 0.0\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    total_loss += loss\n"
    )
    good = (
        "total_loss = 0.0\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    total_loss += loss.detach()  # no graph kept; call .item() once per epoch\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("backward"):
            return
        for stmt in ctx.nodes(ast.AugAssign, ast.Assign):
            acc, value = _accumulation(stmt)
            if acc is None or value is None:
                continue
            loops = accumulation_loops(ctx, stmt)
            if not loops or maybe_grad_disabled(ctx, stmt):
                continue
            scope = ctx.enclosing_function(stmt) or ctx.tree
            if not backward_receiver_names(ctx, scope) and not _backward_in_callee(ctx, scope):
                continue  # not training code
            if not is_graph_attached(ctx, value, scope, stmt):
                continue
            if _consumed_by_backward(ctx, scope, acc):
                continue  # a sum over heads/time steps for one joint backward
            if any(not _reset_inside(ctx, loop, acc, stmt) for loop in loops):
                yield self.report_at(ctx, stmt.lineno, stmt.col_offset)


def _backward_in_callee(ctx: Context, scope: ast.AST) -> bool:
    """Does `scope` call a function (helper, method, imported from the tree) that runs backward?"""
    from ..scopes import walk_no_defs

    proj = ctx.project
    return any(
        isinstance(n, ast.Call) and (eff := proj.effects_at(ctx, n)) is not None and eff.calls_backward
        for n in walk_no_defs(scope)
    )


def _accumulation(stmt: ast.AST) -> tuple[str | None, ast.expr | None]:
    """(accumulator, added value) for `acc += v` or `acc = acc + v`."""
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, (ast.Add, ast.Sub)):
        return dotted(stmt.target) if not isinstance(stmt.target, ast.Subscript) else dotted(stmt.target.value), stmt.value
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Add):
        acc = dotted(stmt.targets[0])
        left, right = stmt.value.left, stmt.value.right
        if acc and dotted(left) == acc:
            return acc, right
        if acc and dotted(right) == acc:
            return acc, left
    return None, None


def _reset_inside(ctx: Context, loop: ast.AST, acc: str, stmt: ast.AST) -> bool:
    """Is `acc` re-bound (not accumulated) somewhere in `loop`'s body, so it does not outlive an iteration?"""
    for n in walk_scope(loop):
        if n is stmt:
            continue
        if isinstance(n, (ast.Assign, ast.AnnAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if dotted(t) == acc and _accumulation(n)[0] != acc:
                    return True
        elif isinstance(n, (ast.For, ast.AsyncFor)) and acc in {x.id for x in ast.walk(n.target) if isinstance(x, ast.Name)}:
            return True
    return False


def _consumed_by_backward(ctx: Context, scope: ast.AST, acc: str) -> bool:
    """Is the accumulator (or a value computed from it) backward()-ed?"""
    names = backward_receiver_names(ctx, scope)
    head = acc.split(".", 1)[0]
    if acc in names or (head != "self" and head in names):
        return True
    # loss = total / n ; loss.backward()
    for n in walk_scope(scope):
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in n.targets):
            if any(dotted(x) == acc for x in ast.walk(n.value) if isinstance(x, (ast.Name, ast.Attribute))):
                return True
    for call in ctx.calls("backward"):
        if (ctx.enclosing_function(call) or ctx.tree) is scope:
            if any(dotted(x) == acc for x in ast.walk(call) if isinstance(x, (ast.Name, ast.Attribute))):
                return True
    return False
