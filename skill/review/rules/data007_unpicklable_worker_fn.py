"""PT-DATA007 unpicklable-worker-fn."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import dataloader_calls, latest_binding
from ._api_common import num_workers_nonzero

FN_KWARGS = ("collate_fn", "worker_init_fn")


class UnpicklableWorkerFn(Rule):
    code = "PT-DATA007"
    name = "unpicklable-worker-fn"
    severity = Severity.low  # portability: works with fork (Linux before Python 3.14), fails with spawn
    summary = "A lambda or nested function as `collate_fn`/`worker_init_fn` of a loader with worker processes"
    why = (
        "With the spawn or forkserver start method (the default on macOS and Windows, and on Linux from "
        "Python 3.14) the loader pickles collate_fn and worker_init_fn to send them to each worker; lambdas "
        "and functions defined inside another function cannot be pickled, so the loader dies with "
        "'Can't pickle local object' on those platforms although it works with fork."
    )
    fix_text = (
        "Define the function at module level (bind parameters with `functools.partial(fn, arg)`), or use a "
        "small callable class defined at module level."
    )
    bad = (
        "from torch.utils.data import DataLoader\n\n"
        "loader = DataLoader(ds, batch_size=32, num_workers=4, collate_fn=lambda b: pad_batch(b, 0))\n"
    )
    good = (
        "import functools\nfrom torch.utils.data import DataLoader\n\n"
        "loader = DataLoader(ds, batch_size=32, num_workers=4, collate_fn=functools.partial(pad_batch, pad_id=0))\n"
    )

    def check(self, ctx: Context):
        for call in dataloader_calls(ctx):
            if not num_workers_nonzero(call):
                continue
            mp = kwarg_value(call, "multiprocessing_context")
            if const_value(mp, default=None) == "fork":
                continue
            for kw in FN_KWARGS:
                value = kwarg_value(call, kw)
                what = self._unpicklable(ctx, value)
                if what:
                    yield self.report(
                        ctx, value,
                        f"`{kw}` is {what}, which cannot be pickled: with spawn/forkserver workers (macOS, Windows, "
                        "Python 3.14 on Linux) the loader fails; define it at module level",
                    )

    @staticmethod
    def _unpicklable(ctx: Context, value: ast.AST | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, ast.Lambda):
            return "a lambda"
        if isinstance(value, ast.Name):
            b = latest_binding(ctx, value.id, value)
            if b is not None and isinstance(b[1], ast.Lambda):
                return f"a lambda (`{value.id}`)"
            scope = ctx.enclosing_function(value)
            # a def visible here that is nested in a function
            for fn in ctx.functions_by_name.get(value.id, ()):
                parent_fn = ctx.enclosing_function(fn)
                if parent_fn is not None and (scope is parent_fn or ctx.is_inside(value, parent_fn)):
                    if ctx.enclosing_class(fn) is None or ctx.is_inside(ctx.enclosing_class(fn), parent_fn):
                        return f"a local function (`{value.id}` defined inside `{parent_fn.name}`)"
            return None
        if isinstance(value, ast.Call) and (dotted(value.func) or "").endswith("partial") and value.args:
            inner = value.args[0]
            if isinstance(inner, ast.Lambda):
                return "a partial of a lambda"
        return None
