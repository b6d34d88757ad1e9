"""PT-MEM004 retain-graph-every-step."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, is_true, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls, is_training_loop


class RetainGraphEveryStep(Rule):
    code = "PT-MEM004"
    name = "retain-graph-every-step"
    severity = Severity.medium
    summary = "`backward(retain_graph=True)` in the training loop with no second backward through that graph"
    why = (
        "retain_graph=True keeps every activation of the forward pass alive after backward; with no later "
        "backward (or autograd.grad) on the same graph it only holds memory until the next step, and it "
        "usually hides a real bug: a tensor carried from the previous step (hidden state, running loss) whose "
        "graph should have been detached, so each step backpropagates further into the past."
    )
    fix_text = (
        "Drop retain_graph=True; if backward complained 'Trying to backward through the graph a second time', "
        "detach what is carried across steps (`hidden = hidden.detach()`)."
    )
    bad = (
        "for x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n"
        "    loss.backward(retain_graph=True)\n    optimizer.step()\n"
    )
    good = (
        "for x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n"
        "    loss.backward()\n    optimizer.step()\n"
    )

    def check(self, ctx: Context):
        backs = backward_calls(ctx)
        retained = [b for b in backs if is_true(kwarg_value(b, "retain_graph"))]
        if not retained:
            return
        for call in retained:
            loops = ctx.loops_around(call)
            if not loops or not is_training_loop(ctx, loops[0]):
                continue
            loop = loops[-1]  # the outermost loop of this function: later backwards anywhere in it count
            if self._another_backward(ctx, call, loop, backs) or self._graph_built_outside(ctx, call, loops[0]):
                continue
            yield self.report(
                ctx, call,
                "`retain_graph=True` every step with no second backward keeps the whole graph alive until the next "
                "step; drop it (detach what is carried across steps instead)",
            )

    @staticmethod
    def _another_backward(ctx: Context, call: ast.Call, loop: ast.AST, backs: list[ast.Call]) -> bool:
        for other in backs:
            if other is not call and ctx.is_inside(other, loop):
                return True
        for c in ctx.calls("grad", "backward", "vjp", "jvp", "hessian"):
            if c is call or not ctx.is_inside(c, loop):
                continue
            q = ctx.call_qualname(c) or ""
            if q.startswith("torch.autograd") or (callee_name(c) == "backward" and not isinstance(c.func, ast.Attribute)):
                return True
        # a helper called in the loop that runs backward (e.g. a penalty term)
        for n in ast.walk(loop):
            if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute)) and n is not call:
                name = callee_name(n)
                for fn in ctx.functions_by_name.get(name or "", ()):
                    if any(ctx.is_inside(b, fn) for b in backs) or any(
                        ctx.is_inside(g, fn) and (ctx.call_qualname(g) or "").startswith("torch.autograd") for g in ctx.calls("grad")
                    ):
                        return True
        # a single call in a loop over several losses: `for loss in losses: loss.backward(retain_graph=True)`
        inner = ctx.loops_around(call)[0]
        if isinstance(inner, (ast.For, ast.AsyncFor)) and not any(
            isinstance(n, ast.Call) and callee_name(n) in {"step", "zero_grad"} for n in ast.walk(inner)
        ):
            return True
        return False

    @staticmethod
    def _graph_built_outside(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """`loss` computed before the loop and backpropagated on every iteration: the graph is reused, so it
        must be retained (unrolled optimisation, meta-learning inner loops)."""
        recv = call.func.value if isinstance(call.func, ast.Attribute) else None
        if not isinstance(recv, ast.Name):
            return False
        for n in ast.walk(loop):
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                if any(isinstance(t, ast.Name) and t.id == recv.id or recv.id in {e.id for e in ast.walk(t) if isinstance(e, ast.Name)} for t in targets):
                    return False
            if isinstance(n, (ast.For, ast.AsyncFor)) and recv.id in {e.id for e in ast.walk(n.target) if isinstance(e, ast.Name)}:
                return False
        return True
