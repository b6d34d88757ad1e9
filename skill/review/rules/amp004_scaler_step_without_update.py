"""PT-AMP004 scaler-step-without-update."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function
from ._trainloop import events, role, site, training_loops


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
        "torch.manual_seed(0)\n"
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
        in_loops: set[int] = set()
        for loop in training_loops(ctx):
            if is_test_function(ctx, ctx.enclosing_function(loop)):
                continue
            evs = events(ctx, loop)
            updated = {e.target for e in evs if e.kind == "scaler_update"}
            for e in evs:
                if e.kind != "scaler_step" or not e.via:
                    continue
                in_loops.add(id(e.node))
                if e.via in updated or self._updated_elsewhere(ctx, e.via, loop):
                    continue
                yield self._finding(ctx, site(ctx, e), e.via)
        # a scaler step outside any visible training loop (a step helper called from another module)
        updates = {(dotted(c.func.value) or "").removeprefix("self.") for c in ctx.calls("update") if isinstance(c.func, ast.Attribute)}
        for c in ctx.calls("step"):
            if id(c) in in_loops or not isinstance(c.func, ast.Attribute) or role(ctx, c.func.value) != "scaler":
                continue
            name = (dotted(c.func.value) or "").removeprefix("self.")
            if name and name not in updates and not is_test_function(ctx, ctx.enclosing_function(c)):
                yield self._finding(ctx, c, name)

    @staticmethod
    def _updated_elsewhere(ctx: Context, name: str, loop: ast.AST) -> bool:
        """An `update()` on this scaler in another function (maybe the per-step caller): unknown, no finding.
        One in the same function outside the loop (once per epoch or per run) is still missing per step."""
        fn = ctx.enclosing_function(loop)
        for c in ctx.calls("update"):
            if isinstance(c.func, ast.Attribute) and (dotted(c.func.value) or "").removeprefix("self.") == name:
                if ctx.enclosing_function(c) is not fn:
                    return True
        return False

    def _finding(self, ctx: Context, node: ast.AST, name: str):
        return self.report(
            ctx, node,
            f"`{name}.step()` with no `{name}.update()` in the same iteration: the next `step()` raises, "
            "and an overflowed loss scale is never lowered",
        )


