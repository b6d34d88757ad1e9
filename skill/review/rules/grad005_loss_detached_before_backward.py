"""PT-GRAD005 loss-detached-before-backward."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted, is_true, kwarg_value, receiver
from ..models import Severity
from ..rule import Rule
from ..semantics import binding_before, walk_scope

TENSOR_BUILDERS = {"tensor", "Tensor", "as_tensor", "FloatTensor", "DoubleTensor", "Variable", "from_numpy", "scalar_tensor"}
DETACHING_CALLS = {"item", "tolist", "numpy"}
# Operations through which the rebuilt (graph-less) value still is "the loss" that gets backward()-ed.
PASS_THROUGH_METHODS = {"sum", "mean", "to", "cuda", "cpu", "float", "double", "half", "squeeze", "view", "reshape", "requires_grad_"}


class LossDetachedBeforeBackward(Rule):
    code = "PT-GRAD005"
    name = "loss-detached-before-backward"
    severity = Severity.high
    summary = "the loss is rebuilt from Python numbers (`.item()`/`.data`) before backward(): no gradient reaches the model"
    why = (
        "`torch.tensor(loss.item(), requires_grad=True)` (or `Variable(loss.data, requires_grad=True)`) makes "
        "a new leaf tensor with no history. backward() then runs without error, but it only computes the "
        "gradient of that leaf: every parameter's `.grad` stays None or zero and the model never trains."
    )
    fix_text = "Call backward() on the loss tensor the model produced; use `loss.item()` only for logging, after backward."
    bad = (
        "loss = criterion(model(x), y)\n"
        "loss = torch.tensor(loss.item(), requires_grad=True)\n"
        "loss.backward()\n"
    )
    good = (
        "loss = criterion(model(x), y)\n"
        "loss.backward()\n"
        "running_loss += loss.item()\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("backward"):
            return
        for call in ctx.calls(*TENSOR_BUILDERS, "requires_grad_"):
            if not _rebuilds_detached(ctx, call):
                continue
            if _flows_to_backward(ctx, call):
                yield self.report(ctx, call)


def _rebuilds_detached(ctx: Context, call: ast.Call) -> bool:
    name = callee_name(call)
    if name == "requires_grad_":
        if call.args and not is_true(call.args[0]):
            return False
        recv = receiver(call)
        return recv is not None and _detached_source(recv)
    if not is_true(kwarg_value(call, "requires_grad")):
        return False
    if name != "Variable" and not (ctx.call_qualname(call) or "").startswith("torch."):
        return False
    if any(_detached_source(a) for a in call.args):
        return True
    # loss_val = loss.item(); torch.tensor([loss_val], requires_grad=True)
    scope = ctx.enclosing_function(call) or ctx.tree
    for a in call.args:
        for n in ast.walk(a):
            if isinstance(n, ast.Name):
                entry = binding_before(ctx, scope, n.id, call)
                value = entry[2] if entry else None
                if isinstance(value, ast.expr) and _detached_source(value):
                    return True
    return False


def _detached_source(expr: ast.AST) -> bool:
    """Does `expr` contain `.item()`/`.tolist()`/`.numpy()`/`.data`/`.detach()` of a tensor?"""
    for n in ast.walk(expr):
        if isinstance(n, ast.Call) and callee_name(n) in DETACHING_CALLS | {"detach"} and isinstance(n.func, ast.Attribute):
            return True
        if isinstance(n, ast.Attribute) and n.attr == "data":
            return True
    return False


def _flows_to_backward(ctx: Context, call: ast.Call) -> bool:
    """Is the rebuilt tensor (possibly via arithmetic/reductions, not model calls) backward()-ed?"""
    # direct chain: torch.tensor(..., requires_grad=True).backward() / .sum().backward()
    node: ast.AST = call
    parent = ctx.parent(node)
    while isinstance(parent, ast.Attribute) or (isinstance(parent, ast.Call) and parent.func is node):
        if isinstance(parent, ast.Attribute) and parent.attr == "backward":
            return True
        if isinstance(parent, ast.Attribute) and parent.attr not in PASS_THROUGH_METHODS:
            return False
        node = parent
        parent = ctx.parent(node)
    stmt = ctx.statement_of(call)
    if not isinstance(stmt, (ast.Assign, ast.AugAssign)):
        return False
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    tainted = {t.id for t in targets if isinstance(t, ast.Name)}
    if not tainted:
        return False
    scope = ctx.enclosing_function(call) or ctx.tree
    later = sorted(
        (n for n in walk_scope(scope) if isinstance(n, (ast.Assign, ast.AugAssign, ast.Expr)) and n.lineno > stmt.lineno),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for n in later:
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and callee_name(n.value) == "backward":
            recv = receiver(n.value)
            parts = ([recv] if recv is not None else []) + list(n.value.args)
            if any(_plain_use(p, tainted) for p in parts):
                return True
        elif isinstance(n, (ast.Assign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if _plain_use(n.value, tainted):
                tainted |= names
            elif isinstance(n, ast.Assign):
                tainted -= names
    return False


def _plain_use(expr: ast.AST, names: set[str]) -> bool:
    """Is one of `names` used in `expr` through arithmetic / tensor methods only (no other calls)?"""
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, ast.BinOp):
        return _plain_use(expr.left, names) or _plain_use(expr.right, names)
    if isinstance(expr, ast.UnaryOp):
        return _plain_use(expr.operand, names)
    if isinstance(expr, ast.Call):
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in PASS_THROUGH_METHODS | {"scale"}:
            if expr.func.attr == "scale":  # scaler.scale(loss)
                return any(_plain_use(a, names) for a in expr.args)
            return _plain_use(expr.func.value, names)
        if dotted(expr.func) in {"sum"}:
            return any(_plain_use(a, names) for a in expr.args)
    return False
