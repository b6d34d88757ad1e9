"""PT-GRAD002 missing-zero-grad."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    backward_calls,
    call_sites,
    is_optimizer_name,
    local_function,
    walk_no_defs,
)

# in-place ops on `.grad` that clear it
GRAD_CLEARING_METHODS = {"zero_", "fill_", "detach_", "mul_", "requires_grad_"}


class MissingZeroGrad(Rule):
    code = "PT-GRAD002"
    name = "missing-zero-grad"
    severity = Severity.high
    summary = "backward() and optimizer.step() run every iteration but the gradients are never cleared"
    why = (
        "backward() adds into `.grad`. Without `optimizer.zero_grad()` (or setting the grads to None) "
        "inside the loop, each step applies the sum of all gradients seen so far: the effective learning "
        "rate grows every step and training diverges or stalls."
    )
    fix_text = "Call `optimizer.zero_grad(set_to_none=True)` once per optimizer step (before backward or after step)."
    bad = (
        "for x, y in loader:\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
    )
    good = (
        "for x, y in loader:\n"
        "    optimizer.zero_grad(set_to_none=True)\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
    )

    def check(self, ctx: Context):
        backwards = backward_calls(ctx)
        if not backwards:
            return
        if not ctx.calls("step") and ctx.project.paths == [] and not ctx.functions_by_name:
            return  # nothing steps an optimizer here (no step() call, no helper that could)
        for bw in backwards:
            if "distributed.autograd" in (ctx.call_qualname(bw) or ""):
                continue  # distributed autograd: gradients live in the per-iteration context, not in `.grad`
            loops = ctx.loops_around(bw)
            if loops:
                loop = next((lp for lp in loops if _optimizer_steps(ctx, lp)), None)
                if loop is None:
                    continue
                steps = _optimizer_steps(ctx, loop)
                if not _missing_clear(ctx, loop, steps, bw):
                    continue
                yield self.report(ctx, bw)
                continue
            # a step function called once per batch from a loop elsewhere in the file
            fn = ctx.enclosing_function(bw)
            if fn is None:
                continue
            steps = _optimizer_steps(ctx, fn)
            if not steps or _clears(ctx, fn):
                continue
            sites = [s for s in call_sites(ctx, fn) if ctx.loops_around(s)]
            if not sites:
                continue
            if all(not _clears(ctx, ctx.loops_around(s)[-1]) for s in sites):
                yield self.report(ctx, bw)
                continue
            # per optimizer: `update(optG, g_loss)` in a loop that zeroes only optD
            for s in sites:
                if ctx.project.ctx_of(s) not in (ctx, None):
                    continue  # a call in another file is reported when that file is reviewed
                eff = ctx.project.effects_at(ctx, s)
                loop = ctx.loops_around(s)[0]
                receivers = _clear_receivers(ctx, loop)
                if eff is None or not receivers:
                    continue
                stepped = _stepped_in(ctx, loop)
                missing = sorted(opt for opt in eff.steps if opt not in receivers)
                if set(receivers) <= stepped and missing:
                    yield self.report(ctx, s, (
                        f"`{missing[0]}` is stepped through this call but this loop only clears "
                        f"{', '.join(f'`{r}`' for r in sorted(set(receivers)))}: its gradients add up across "
                        "iterations, so every step applies the sum of all past gradients"
                    ))


def _optimizer_steps(ctx: Context, node: ast.AST) -> list[tuple[str, ast.Call]]:
    """(optimizer name, call) for `opt.step()` / `scaler.step(opt)` under `node`, and for the calls under
    `node` whose callee steps an optimizer (a `self.optimizer_step()` helper, `update(optD, loss)`): the
    optimizer as the caller names it, at the call."""
    out = []
    known = _optimizer_variables(ctx)
    proj = ctx.project
    for n in walk_no_defs(node):
        if not isinstance(n, ast.Call):
            continue
        if isinstance(n.func, ast.Attribute) and n.func.attr == "step":
            recv = dotted(n.func.value) or ""
            if "scaler" in recv.lower() and n.args:
                out.append((dotted(n.args[0]) or "", n))
            elif is_optimizer_name(recv) or recv in known:
                out.append((recv, n))
            continue
        eff = proj.effects_at(ctx, n)
        if eff is not None and not eff.calls_backward:
            out.extend((opt, n) for opt in sorted(eff.steps))
    out.sort(key=lambda e: (e[1].lineno, e[1].col_offset))
    return out


def _stepped_in(ctx: Context, loop: ast.AST) -> set[str]:
    """Every optimizer stepped in one iteration of `loop`, directly or by a helper (backward helpers too)."""
    out = {name for name, _ in _optimizer_steps(ctx, loop)}
    for n in walk_no_defs(loop):
        if isinstance(n, ast.Call):
            eff = ctx.project.effects_at(ctx, n)
            if eff is not None:
                out |= eff.steps
    return out


def _optimizer_variables(ctx: Context) -> set[str]:
    """Names bound to `torch.optim.X(...)` (any name: `sgd = torch.optim.SGD(...)`)."""
    cache = ctx.__dict__.get("_pp_grad002_opts")
    if cache is None:
        cache = set()
        for node in ctx.nodes(ast.Assign):
            value = node.value  # type: ignore[union-attr]
            if isinstance(value, ast.Call) and (ctx.call_qualname(value) or "").startswith("torch.optim.") \
                    and "lr_scheduler" not in (ctx.call_qualname(value) or ""):
                cache.update(d for t in node.targets for d in [dotted(t)] if d)  # type: ignore[union-attr]
        ctx.__dict__["_pp_grad002_opts"] = cache
    return cache


def _clear_receivers(ctx: Context, node: ast.AST, depth: int = 0) -> list[str] | None:
    """Receivers of zero_grad calls under `node`; None when gradients are cleared some other way
    (`p.grad = None`, `p.grad.zero_()`, a local helper that does it)."""
    receivers: list[str] = []
    for n in walk_no_defs(node):
        if isinstance(n, ast.Call):
            func = n.func
            if isinstance(func, ast.Attribute):
                if "zero_grad" in func.attr:
                    continue  # counted through its Attribute node below
                if func.attr in GRAD_CLEARING_METHODS and isinstance(func.value, ast.Attribute) and func.value.attr in {"grad", "data"}:
                    return None
            elif isinstance(func, ast.Name) and "zero_grad" in func.id:
                return None
            eff = ctx.project.effects_at(ctx, n)
            if eff is not None and eff.fn is not node:
                zeroed = eff.zeroes
                if "*" in zeroed:
                    return None  # the helper clears `.grad` by hand
                receivers.extend(sorted(zeroed))  # as the caller names them: per optimizer
        elif isinstance(n, (ast.Assign, ast.Delete)):
            targets = n.targets
            if any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in targets):
                return None
        elif isinstance(n, ast.Attribute) and "zero_grad" in n.attr and isinstance(n.ctx, ast.Load):
            receivers.append(dotted(n.value) or "?")  # `opt.zero_grad` passed as a callable
    return receivers


def _clears(ctx: Context, node: ast.AST) -> bool:
    rec = _clear_receivers(ctx, node)
    return rec is None or bool(rec)


def _missing_clear(ctx: Context, loop: ast.AST, steps: list[tuple[str, ast.Call]], bw: ast.Call) -> bool:
    receivers = _clear_receivers(ctx, loop)
    if receivers is None:
        return False
    if not receivers:
        return True
    stepped = {name for name, _ in steps}
    # only other optimizers are zeroed (GAN: optD.zero_grad() but optG.step()): this backward's optimizer
    if not set(receivers) <= stepped:
        return False  # a module.zero_grad() clears every parameter it owns
    after = [name for name, call in steps if (call.lineno, call.col_offset) > (bw.lineno, bw.col_offset)]
    mine = after[0] if after else steps[-1][0]
    return mine not in receivers
