"""PT-AMP004 scaler-step-without-update."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function
from ._trainloop import events, role, training_loops


class ScalerStepWithoutUpdate(Rule):
    code = "PT-AMP004"
    name = "scaler-step-without-update"
    severity = Severity.high
    summary = "`scaler.step(optimizer)` in a training iteration that never calls `scaler.update()`"
    why = (
        "`GradScaler.update()` adapts the loss scale (halving it after inf/NaN gradients) and resets the "
        "per-optimizer state. Without it in every iteration the second `scaler.step()` raises "
        "'step() has already been called since the last update()', and a scale that overflowed is never lowered."
    )
    fix_text = "Call `scaler.update()` once per iteration, right after the `scaler.step(...)` calls."
    bad = (
        "import torch\n\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    with torch.autocast('cuda', dtype=torch.float16):\n"
        "        loss = criterion(model(x), y)\n"
        "    scaler.scale(loss).backward()\n"
        "    scaler.step(optimizer)\n"
    )
    good = bad + "    scaler.update()\n"

    def check(self, ctx: Context):
        if not ctx.calls("GradScaler", "ShardedGradScaler") and not any(
            role(ctx, c.func.value) == "scaler" for c in ctx.calls("step") if isinstance(c.func, ast.Attribute)
        ):
            return
        scalers = ctx.calls("GradScaler", "ShardedGradScaler")
        if scalers and all(const_value(kwarg_value(c, "enabled")) is False for c in scalers):
            return
        reported: set[int] = set()
        for loop in _loops_with_scaler_steps(ctx):
            if is_test_function(ctx, ctx.enclosing_function(loop)):
                continue
            evs = events(ctx, loop)
            updated = {e.target for e in evs if e.kind == "scaler_update"}
            for e in evs:
                if e.kind != "scaler_step" or id(e.node) in reported or not e.via:
                    continue
                if e.via in updated:
                    continue
                reported.add(id(e.node))
                yield self.report(
                    ctx, e.node,
                    f"`{e.via}.step()` with no `{e.via}.update()` in the same iteration: the next `step()` raises, "
                    "and an overflowed loss scale is never lowered",
                )


def _loops_with_scaler_steps(ctx: Context) -> list[ast.AST]:
    """Training loops, plus innermost loops running a scaler.step (the backward may be in a helper elsewhere)."""
    out = {id(lp): lp for lp in training_loops(ctx)}
    for c in ctx.calls("step"):
        if not isinstance(c.func, ast.Attribute) or role(ctx, c.func.value) != "scaler":
            continue
        loops = ctx.loops_around(c)
        if loops and not any(ctx.is_inside(c, lp) for lp in out.values()):
            out[id(loops[0])] = loops[0]
    return sorted(out.values(), key=lambda n: (n.lineno, n.col_offset))


