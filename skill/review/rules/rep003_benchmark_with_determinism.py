"""PT-REP003 benchmark-with-determinism."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted, is_true, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import before, mutually_exclusive


def cudnn_flag_assignments(ctx: Context, flag: str) -> list[tuple[ast.AST, object]]:
    """`torch.backends.cudnn.<flag> = value` statements as (statement, constant value or None)."""
    out = []
    for node in ctx.nodes(ast.Assign):
        for target in node.targets:  # type: ignore[union-attr]
            name = dotted(target) if isinstance(target, ast.Attribute) else None
            if name and name.endswith(f"cudnn.{flag}"):
                value = node.value  # type: ignore[union-attr]
                out.append((node, value.value if isinstance(value, ast.Constant) else None))
    return out


def determinism_requests(ctx: Context) -> list[ast.AST]:
    """`cudnn.deterministic = True` statements and `use_deterministic_algorithms(True)` calls."""
    out: list[ast.AST] = [n for n, v in cudnn_flag_assignments(ctx, "deterministic") if v is True]
    for call in ctx.calls("use_deterministic_algorithms"):
        arg = call.args[0] if call.args else kwarg_value(call, "mode")
        if is_true(arg):
            out.append(call)
    return out


def execution_points(ctx: Context, node: ast.AST, depth: int = 3) -> list[ast.AST]:
    """Where `node` runs: itself if at module level or in an uncalled function, else the call sites of
    its (module-level) function, followed up to `depth` levels."""
    fn = ctx.enclosing_function(node)
    if fn is None or depth == 0 or ctx.parent(fn) is not ctx.tree:
        return [node]
    sites = [c for c in ctx.calls(fn.name) if isinstance(c.func, ast.Name)]
    if not sites:
        return [node]
    out: list[ast.AST] = []
    for site in sites:
        out.extend(execution_points(ctx, site, depth - 1))
    return out


def _point_pairs(ctx: Context, a: ast.AST, b: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """Pairs of places where `a` and `b` run, compared in one function: the nodes themselves when
    they share a function, else the call sites of their functions."""
    if ctx.enclosing_function(a) is ctx.enclosing_function(b):
        return [(a, b)]
    return [(pa, pb) for pa in execution_points(ctx, a) for pb in execution_points(ctx, b)]


def same_path(ctx: Context, a: ast.AST, b: ast.AST) -> bool:
    """Can `a` and `b` both run in one execution? (same function or module; not on exclusive branches;
    two different uncalled functions are not known to run together)."""
    fa, fb = ctx.enclosing_function(a), ctx.enclosing_function(b)
    if fa is not fb and fa is not None and fb is not None:
        return False
    return not mutually_exclusive(ctx, a, b)


class BenchmarkWithDeterminism(Rule):
    code = "PT-REP003"
    name = "benchmark-with-determinism"
    severity = Severity.medium
    summary = "`cudnn.benchmark = True` together with a request for deterministic algorithms"
    why = (
        "With benchmark=True cuDNN times several convolution algorithms on the first call and keeps the "
        "fastest, which can differ from run to run; that defeats `cudnn.deterministic = True` / "
        "`torch.use_deterministic_algorithms(True)`, so results still vary between runs."
    )
    fix_text = "Set `torch.backends.cudnn.benchmark = False` wherever determinism is requested (or pick one per run mode)."
    bad = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "torch.backends.cudnn.deterministic = True\n"
        "torch.backends.cudnn.benchmark = True\n"
    )
    good = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "torch.backends.cudnn.deterministic = True\n"
        "torch.backends.cudnn.benchmark = False\n"
    )

    def check(self, ctx: Context):
        if "benchmark" not in ctx.source:
            return
        yield from self._trainer_kwargs(ctx)
        bench = cudnn_flag_assignments(ctx, "benchmark")
        turned_on = [n for n, v in bench if v is True]
        if not turned_on:
            return
        turned_off = [n for n, v in bench if v is False]
        requests = determinism_requests(ctx)
        for on in turned_on:
            if any(self._conflict(ctx, on, req, turned_off) for req in requests):
                yield self.report(ctx, on)

    def _conflict(self, ctx: Context, on: ast.AST, req: ast.AST, turned_off: list[ast.AST]) -> bool:
        if not any(same_path(ctx, p_on, p_req) for p_on, p_req in _point_pairs(ctx, on, req)):
            return False
        return not any(self._switched_off_after(ctx, on, off, req) for off in turned_off)

    @staticmethod
    def _switched_off_after(ctx: Context, on: ast.AST, off: ast.AST, req: ast.AST) -> bool:
        """Is benchmark set back to False by `off`, after `on`, on the path that requests determinism?"""
        after_on = any(
            (before(on, off) if p_off is p_on else before(p_on, p_off)) and same_path(ctx, p_off, p_on)
            for p_off, p_on in _point_pairs(ctx, off, on)
        )
        return after_on and any(same_path(ctx, p_off, p_req) for p_off, p_req in _point_pairs(ctx, off, req))

    def _trainer_kwargs(self, ctx: Context):
        """Lightning `Trainer(deterministic=True, benchmark=True)`."""
        for call in ctx.calls("Trainer"):
            bench = kwarg_value(call, "benchmark")
            if is_true(bench) and is_true(kwarg_value(call, "deterministic")):
                yield self.report(ctx, bench)
