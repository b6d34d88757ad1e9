"""PT-NUM001 numerically-unstable-idiom."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value
from ..models import Severity
from ..rule import Rule


def _is_one(node: ast.AST) -> bool:
    v = const_value(node)
    return not isinstance(v, bool) and isinstance(v, (int, float)) and v == 1


def _torch_call(ctx: Context, node: ast.AST, *names: str) -> ast.Call | None:
    """`node` if it is `torch.<name>(x, ...)` or the tensor-method form `<expr>.<name>(...)`."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) or node.func.attr not in names:
        return None
    q = ctx.call_qualname(node) or ""
    if q in {f"torch.{n}" for n in names}:
        return node if node.args else None
    if _method_operand(ctx, node) is not None:
        return node
    return None


def _method_operand(ctx: Context, call: ast.Call) -> ast.expr | None:
    """For a tensor method call `t.exp()` / `t.sum(1)`, the tensor `t`; None for `torch.exp`, `math.log`..."""
    recv = call.func.value  # type: ignore[union-attr]
    q = ctx.qualname(recv) or ""
    if q in {"torch", "math", "numpy", "np", "cmath", "jax.numpy", "jnp"} or q.startswith(("numpy.", "math.")):
        return None
    return recv


def _operand(ctx: Context, call: ast.Call) -> ast.expr | None:
    """The tensor a unary torch function/method applies to: `torch.log(x)` or `x.log()`."""
    q = ctx.call_qualname(call) or ""
    if q.startswith("torch.") and q.count(".") == 1:
        return call.args[0] if len(call.args) == 1 and not call.keywords else None
    if call.args or call.keywords:
        return None
    recv = _method_operand(ctx, call)
    # `x.log()` on a plain name is usually fine to read, but `logger.log()` has arguments; a bare
    # receiver must be an expression (BinOp/Call) to count, which is where the idioms occur
    return recv if isinstance(recv, (ast.BinOp, ast.Call)) else None


def _one_plus(node: ast.AST) -> ast.expr | None:
    """For `1 + x` / `x + 1`, the `x`; else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if _is_one(node.left):
            return node.right
        if _is_one(node.right):
            return node.left
    return None


SOFTMAX_QUALNAMES = {"torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax"}


def _is_softmax(ctx: Context, node: ast.AST | None) -> bool:
    """`F.softmax(x, dim)`, `torch.softmax(x, -1)`, `x.softmax(-1)`."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) or node.func.attr != "softmax":
        return False
    q = ctx.call_qualname(node) or ""
    return q in SOFTMAX_QUALNAMES or _method_operand(ctx, node) is not None and not q.startswith(("numpy.", "scipy."))


def _bound_value(ctx: Context, node: ast.AST) -> ast.AST | None:
    """For a local name, the value of its only binding in the same function (`probs = F.softmax(...)`)."""
    if not isinstance(node, ast.Name):
        return None
    scope = ctx.enclosing_function(node)
    values = [
        stmt.value for stmt in ctx.nodes(ast.Assign)
        if ctx.enclosing_function(stmt) is scope
        and any(isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets)  # type: ignore[union-attr]
    ]
    return values[0] if len(values) == 1 else None


class NumericallyUnstableIdiom(Rule):
    code = "PT-NUM001"
    name = "numerically-unstable-idiom"
    severity = Severity.medium
    summary = "Numerically unstable formula with a stable torch primitive (log1p, expm1, logsumexp, softplus, log_softmax)"
    why = (
        "`log(1 + x)` loses all precision for small x and `exp(x) - 1` cancels catastrophically; "
        "`log(sum(exp(x)))` and `log(1 + exp(x))` overflow to inf for x above ~88 (float32) or ~11 (fp16), and "
        "`log(softmax(x))` gives -inf (NaN gradients) once a probability underflows to 0. "
        "log1p, expm1, logsumexp, softplus and log_softmax compute the same values stably."
    )
    fix_text = (
        "Use `torch.log1p(x)`, `torch.expm1(x)`, `torch.logsumexp(x, dim)`, `F.softplus(x)` or `F.log_softmax(x, dim)`."
    )
    bad = "import torch\n\nz = torch.randn(4, 5)\nlse = torch.log(torch.sum(torch.exp(z), dim=1))\n"
    good = "import torch\n\nz = torch.randn(4, 5)\nlse = torch.logsumexp(z, dim=1)\n"

    def check(self, ctx: Context):
        for call in ctx.calls("log"):
            if not isinstance(call.func, ast.Attribute):
                continue
            arg = _operand(ctx, call)
            if arg is None:
                continue
            if _is_softmax(ctx, arg) or _is_softmax(ctx, _bound_value(ctx, arg)):
                yield self.report(
                    ctx, call,
                    "`log(softmax(x))` underflows to -inf (and NaN gradients) once a probability rounds to 0; "
                    "use `F.log_softmax(x, dim)`",
                )
                continue
            inner = _one_plus(arg)
            if inner is not None:
                if _torch_call(ctx, inner, "exp") is not None:
                    yield self.report(ctx, call, "`torch.log(1 + torch.exp(x))` overflows; use `F.softplus(x)`")
                elif not _integer_valued(ctx, inner, call):
                    # (an integer x is 0 or >= 1: log(1 + x) loses nothing there; counts, lengths, bincounts)
                    yield self.report(ctx, call, "`torch.log(1 + x)` is imprecise for small x; use `torch.log1p(x)`")
                continue
            summed = _torch_call(ctx, arg, "sum")
            q_sum = ctx.call_qualname(summed) if summed is not None else ""
            if summed is not None and q_sum == "torch.sum" and _torch_call(ctx, summed.args[0], "exp") is not None:
                yield self.report(
                    ctx, call, "`torch.log(torch.sum(torch.exp(x)))` overflows; use `torch.logsumexp(x, dim)`"
                )
            elif (
                isinstance(arg, ast.Call)
                and isinstance(arg.func, ast.Attribute)
                and arg.func.attr == "sum"
                and _torch_call(ctx, arg.func.value, "exp") is not None
            ):
                yield self.report(ctx, call, "`torch.log(torch.exp(x).sum(dim))` overflows; use `torch.logsumexp(x, dim)`")
        for call in ctx.calls("exp"):
            if _torch_call(ctx, call, "exp") is None or (ctx.call_qualname(call) != "torch.exp" and call.args):
                continue
            parent = ctx.parent(call)
            if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Sub) and parent.left is call and _is_one(parent.right):
                yield self.report(ctx, call, "`torch.exp(x) - 1` cancels for small x; use `torch.expm1(x)`")


INT_CALLS = {"len", "bincount", "count_nonzero", "argmax", "argmin", "numel", "randint", "long", "int", "round",
             "floor", "ceil", "nelement", "dim", "ndimension", "size"}
INT_DTYPES = {"long", "int64", "int32", "int", "int16", "int8", "uint8"}


def _integer_valued(ctx: Context, node: ast.AST, at: ast.AST, depth: int = 0) -> bool:
    """Is `node` a count/length/integer tensor (0 or >= 1 whenever it is not negative)?"""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.FloorDiv):
            return True
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            return _integer_valued(ctx, node.left, at, depth) and _integer_valued(ctx, node.right, at, depth)
        return False
    if isinstance(node, ast.Call):
        name = callee_name(node) or ""
        if name in INT_CALLS:
            return True
        if name == "to" or name == "type":
            dt = node.args[0] if node.args else None
            return isinstance(dt, ast.Attribute) and dt.attr in INT_DTYPES
        if name == "sum" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Compare):
            return True  # `(pred == y).sum()`
        return False
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
        return True
    if isinstance(node, ast.Name) and depth < 2:
        fn = ctx.enclosing_function(at)
        if fn is not None:
            for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
                if a.arg == node.id and a.annotation is not None:
                    return isinstance(a.annotation, ast.Name) and a.annotation.id == "int"
        scope = fn if fn is not None else ctx.tree
        values = [n.value for n in ast.walk(scope) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
        loops = [n for n in ast.walk(scope) if isinstance(n, (ast.For, ast.comprehension))
                 and isinstance(n.target, ast.Name) and n.target.id == node.id]
        if loops:
            return all(isinstance(lp.iter, ast.Call) and callee_name(lp.iter) == "range" for lp in loops) and not values
        return bool(values) and all(_integer_valued(ctx, v, at, depth + 1) for v in values)
    return False
