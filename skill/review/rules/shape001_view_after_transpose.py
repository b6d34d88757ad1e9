"""PT-SHAPE001 view-after-transpose.

A transpose/permute only changes strides; `.view` can then merge two dimensions only if they are still
adjacent and in order in memory. The rule replays the permutation symbolically and flags a `.view`
only when no grouping of the input dimensions into the view's arguments can succeed.
"""

from __future__ import annotations

import ast
from itertools import combinations

from ..analysis import Context, const_value
from ..models import Severity
from ..rule import Rule

SWAPS = {"transpose", "swapaxes", "swapdims"}
# methods that keep the (non-contiguous) strides of their input
STRIDE_PRESERVING = {"detach", "float", "half", "double", "bfloat16", "type_as", "clone", "requires_grad_", "cpu", "cuda", "to", "type"}
MAX_RANK = 10


def _int(node: ast.AST) -> int | None:
    v = const_value(node)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class _Facts:
    """Per-function assignments: last value bound to a name, and ranks from `B, T, C = x.size()`."""

    def __init__(self, fn: ast.AST) -> None:
        self.assigns: dict[str, list[tuple[tuple[int, int], ast.AST]]] = {}
        self.ranks: dict[str, int] = {}
        for n in ast.walk(fn):
            if not isinstance(n, ast.Assign) or len(n.targets) != 1:
                continue
            t = n.targets[0]
            if isinstance(t, ast.Name):
                self.assigns.setdefault(t.id, []).append(((n.lineno, n.col_offset), n.value))
            elif isinstance(t, ast.Tuple) and not any(isinstance(e, ast.Starred) for e in t.elts):
                v = n.value
                src = None
                if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "size" and not v.args:
                    src = v.func.value
                elif isinstance(v, ast.Attribute) and v.attr == "shape":
                    src = v.value
                if isinstance(src, ast.Name):
                    self.ranks[src.id] = len(t.elts)

    def last_value(self, name: str, before: tuple[int, int]) -> ast.AST | None:
        best = None
        for at, value in self.assigns.get(name, ()):
            if at < before and (best is None or at > best[0]):
                best = (at, value)
        return best[1] if best else None


class ViewAfterTranspose(Rule):
    code = "PT-SHAPE001"
    name = "view-after-transpose"
    severity = Severity.high
    summary = "`.view()` merges dimensions that a transpose/permute made non-adjacent in memory"
    why = (
        "transpose/permute return a strided view; `.view` cannot merge dimensions that are no longer "
        "contiguous and raises 'view size is not compatible with input tensor's size and stride' at run "
        "time (often only on the path that was not tested)."
    )
    fix_text = "Call `.contiguous()` before `.view(...)`, or use `.reshape(...)` (copies only when needed)."
    bad = (
        "import torch\n\nB, nh, T, hs = 2, 4, 8, 16\ny = torch.randn(B, nh, T, hs)\n"
        "y = y.transpose(1, 2).view(B, T, nh * hs)\n"
    )
    good = (
        "import torch\n\nB, nh, T, hs = 2, 4, 8, 16\ny = torch.randn(B, nh, T, hs)\n"
        "y = y.transpose(1, 2).contiguous().view(B, T, nh * hs)\n"
    )

    def check(self, ctx: Context):
        views = ctx.calls("view")
        if not views or not (ctx.calls("transpose") or ctx.calls("permute") or ctx.calls("t") or ctx.calls("swapaxes")
                             or ctx.calls("swapdims") or "mT" in ctx.source or ".T" in ctx.source):
            return
        facts: dict[int, _Facts] = {}
        for call in views:
            if not isinstance(call.func, ast.Attribute):
                continue
            args = _view_args(ctx, call)
            if args is None:
                continue
            chain = self._chain(ctx, call.func.value, call, facts)
            if chain is None:
                continue
            ops, rank = chain
            if not ops:
                continue
            m = len(args)
            if rank is None:
                needed = 2
                for op in ops:
                    for d in op[1:] if op[0] == "swap" else ():
                        needed = max(needed, d + 1 if d >= 0 else -d)
                rank = max(m + 1, needed)
            if rank > MAX_RANK or m >= rank:
                continue
            perm = _replay(ops, rank)
            if perm is None or perm == list(range(rank)):
                continue
            if not _some_grouping_works(perm, m):
                yield self.report(
                    ctx, call,
                    "`.view()` after transpose/permute merges dimensions that are not contiguous; "
                    "use `.reshape()` or `.contiguous().view()`",
                )

    def _chain(self, ctx: Context, node: ast.AST, at: ast.AST, facts: dict, depth: int = 0):
        """(layout ops in application order, rank if known) for the value `node`; None if unknown."""
        ops_rev: list[tuple] = []
        rank: int | None = None
        while True:
            if isinstance(node, ast.Attribute) and node.attr in {"mT", "mH"}:
                ops_rev.append(("swap", -2, -1))
                node = node.value
            elif isinstance(node, ast.Attribute) and node.attr in {"T", "H"}:
                ops_rev.append(("reverse",))
                node = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                q = ctx.call_qualname(node) or ""
                fn_form = q in {"torch.transpose", "torch.permute", "torch.swapaxes", "torch.swapdims"}
                args = node.args[1:] if fn_form else node.args
                if fn_form and not node.args:
                    return None
                if name in SWAPS and len(args) == 2 and not node.keywords:
                    a, b = _int(args[0]), _int(args[1])
                    if a is None or b is None:
                        return None
                    ops_rev.append(("swap", a, b))
                elif name == "permute" and not node.keywords:
                    dims_nodes = args[0].elts if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)) else args
                    dims = [_int(d) for d in dims_nodes]
                    if not dims or any(d is None for d in dims):
                        return None
                    ops_rev.append(("perm", dims))
                elif name == "t" and not args and not fn_form:
                    ops_rev.append(("t",))
                elif name in STRIDE_PRESERVING and not fn_form:
                    if any(kw.arg == "memory_format" for kw in node.keywords):
                        break
                elif name in {"view", "reshape"} and not fn_form:
                    shape = _view_args(ctx, node)
                    rank = len(shape) if shape is not None else None
                    break
                else:
                    break
                node = node.args[0] if fn_form else node.func.value
            elif isinstance(node, ast.Name) and depth < 3:
                fn = ctx.enclosing_function(at) or ctx.tree
                f = facts.get(id(fn))
                if f is None:
                    f = facts[id(fn)] = _Facts(fn)
                stmt = ctx.statement_of(at)
                value = f.last_value(node.id, (stmt.lineno, stmt.col_offset)) if stmt is not None else None
                if value is None:
                    rank = f.ranks.get(node.id)
                    break
                sub = self._chain(ctx, value, value, facts, depth + 1)
                if sub is None:
                    return None
                ops_rev.extend(reversed(sub[0]))
                rank = sub[1]
                break
            else:
                break
        ops = list(reversed(ops_rev))
        for op in ops:
            if op[0] == "perm":
                rank = len(op[1]) if rank is None else rank
                break
            if op[0] == "t":
                rank = 2 if rank is None else rank
                break
        return ops, rank


def _view_args(ctx: Context, call: ast.Call) -> list[ast.expr] | None:
    """The shape arguments of `.view(...)`; None for dtype views, unknown shapes and keywords."""
    if call.keywords:
        return None
    args = call.args
    if len(args) == 1:
        a = args[0]
        if isinstance(a, (ast.Tuple, ast.List)):
            args = a.elts
        elif not (_int(a) is not None or isinstance(a, ast.BinOp) or _is_scalar_size(a)):
            return None  # `x.view(shape)`, `x.view(y.size())`, `x.view(torch.float16)`: unknown
    if not args or any(isinstance(a, ast.Starred) for a in args):
        return None
    return list(args)


def _is_scalar_size(node: ast.AST) -> bool:
    """`x.size(0)`, `x.shape[0]`, `x.numel()`: one integer."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return (node.func.attr == "size" and len(node.args) == 1) or node.func.attr == "numel"
    return isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape" and not isinstance(node.slice, ast.Slice)


def _replay(ops: list[tuple], n: int) -> list[int] | None:
    perm = list(range(n))
    for op in ops:
        if op[0] == "swap":
            a, b = op[1], op[2]
            if not (-n <= a < n and -n <= b < n):
                return None
            a, b = a % n, b % n
            perm[a], perm[b] = perm[b], perm[a]
        elif op[0] == "perm":
            dims = op[1]
            if len(dims) != n or sorted(d % n for d in dims) != list(range(n)):
                return None
            perm = [perm[d % n] for d in dims]
        elif op[0] == "t":
            if n != 2:
                return None
            perm = perm[::-1]
        elif op[0] == "reverse":
            perm = perm[::-1]
    return perm


def _some_grouping_works(perm: list[int], m: int) -> bool:
    """Can the n dims be split into m consecutive groups, each contiguous in memory?"""
    n = len(perm)
    for cuts in combinations(range(1, n), m - 1):
        bounds = (0, *cuts, n)
        if all(
            all(perm[k + 1] == perm[k] + 1 for k in range(lo, hi - 1))
            for lo, hi in zip(bounds, bounds[1:], strict=False)
        ):
            return True
    return False
