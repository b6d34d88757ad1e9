"""PT-OPT004 optimizer-step-bookkeeping: two steps per backward, a step no backward reaches, zero_grad
between backward and step."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function, walk_no_defs
from ._trainloop import events, exclusive, role, same_conditions, site, training_loops, value_of

# Calls that only read or log a loss (a loss passed to anything else may be backpropagated there).
LOSS_READERS = {
    "print", "float", "str", "append", "log", "log_dict", "add_scalar", "item", "update", "set_postfix", "format",
    "info", "debug", "write", "round", "isnan", "isfinite", "isinf", "all_reduce", "reduce", "detach",
}
MANUAL_GRAD_CALLS = {"grad", "vjp", "backward_pass", "run_backward"}


class OptimizerStepBookkeeping(Rule):
    code = "PT-OPT004"
    name = "optimizer-step-bookkeeping"
    severity = Severity.high
    summary = "Optimizer stepped twice per backward, stepped with no backward, or its gradients cleared between backward and step"
    why = (
        "`optimizer.step()` applies whatever is in `.grad`. Stepping twice per backward (e.g. `scaler.step(opt)` "
        "and then `opt.step()`) applies each gradient twice, doubling the effective learning rate and, with AMP, "
        "stepping on still-scaled or inf gradients. A step that no backward feeds, or a `zero_grad()` between "
        "`backward()` and `step()`, applies zero (or stale) gradients: the model silently never learns."
    )
    fix_text = (
        "One `step()` per optimizer per backward: with a GradScaler only `scaler.step(opt)`; call `loss.backward()` "
        "before `opt.step()`; put `zero_grad()` before the forward/backward, or right after `step()`."
    )
    bad = (
        "import torch\n\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    with torch.autocast('cuda', dtype=torch.float16):\n"
        "        loss = criterion(model(x), y)\n"
        "    scaler.scale(loss).backward()\n"
        "    scaler.step(optimizer)\n"
        "    optimizer.step()\n"
        "    scaler.update()\n"
    )
    good = bad.replace("    optimizer.step()\n", "").replace("import torch\n", "import torch\n\ntorch.manual_seed(0)\n", 1)

    def check(self, ctx: Context):
        if not ctx.calls("step") and not ctx.project.may_import(ctx, ("step(",)):
            return
        reported: set[int] = set()
        loops = training_loops(ctx)
        for loop in loops:
            if is_test_function(ctx, ctx.enclosing_function(loop)):
                continue
            for node, message in self._in_iteration(ctx, loop):
                if id(node) not in reported:
                    reported.add(id(node))
                    yield self.report(ctx, node, message)
        for node, message in self._step_without_backward(ctx, loops):
            if id(node) not in reported:
                reported.add(id(node))
                yield self.report(ctx, node, message)

    def _in_iteration(self, ctx: Context, loop: ast.AST):
        evs = events(ctx, loop)
        steps = [e for e in evs if e.kind in ("step", "scaler_step") and e.target]
        for i, s in enumerate(steps):
            for prev in steps[:i]:
                if prev.target != s.target or prev.node is s.node:
                    continue
                if exclusive(ctx, prev, s) or not same_conditions(ctx, prev, s, loop):
                    continue
                if any(e.kind == "backward" and prev.key < e.key < s.key for e in evs):
                    continue
                if prev.kind == "scaler_step" and s.kind == "step":
                    yield site(ctx, s), (
                        f"`{s.target}.step()` after `scaler.step({s.target})` steps twice per backward: each update "
                        "is applied twice (and on still-scaled or inf gradients when the scaler skipped the step)"
                    )
                elif prev.kind == "step" and s.kind == "scaler_step":
                    yield site(ctx, s), (
                        f"`scaler.step({s.target})` after `{s.target}.step()` steps twice per backward, the first time "
                        "on gradients still multiplied by the loss scale"
                    )
                else:
                    yield site(ctx, s), (
                        f"`{s.target}` is stepped a second time with no backward in between: the same gradients are "
                        "applied twice, doubling the effective learning rate"
                    )
                break
        # zero_grad between the backward and the step that should use its gradients
        for s in steps:
            backs = [e for e in evs if e.kind == "backward" and e.key < s.key and not exclusive(ctx, e, s)]
            if not backs:
                continue
            last_back = backs[-1]
            for z in evs:
                if z.kind != "zero_grad" or not (last_back.key < z.key < s.key):
                    continue
                if not self._clears(ctx, z, s):
                    continue
                if exclusive(ctx, z, s) or exclusive(ctx, z, last_back):
                    continue
                if not same_conditions(ctx, z, s, loop) or _in_exiting_branch(ctx, z.anchor, loop) or _in_exiting_branch(ctx, z.node, ctx.enclosing_function(z.node) or loop):
                    continue
                yield site(ctx, z), (
                    f"`zero_grad()` between `backward()` and `{s.target}.step()` clears the gradients just computed: "
                    "the step applies zeros and the model does not learn"
                )
                break

    @staticmethod
    def _clears(ctx: Context, z, s) -> bool:
        """Does the zero_grad `z` clear the gradients optimizer step `s` uses?"""
        if z.target == s.target:
            return True
        if role(ctx, z.node.func.value) in {"optimizer", "scheduler", "scaler"}:
            return False
        # model.zero_grad(): clears the optimizer's gradients if the optimizer was built on that model
        if s.kind != "step" or not z.target:
            return False
        for v in value_of(ctx, s.node.func.value):
            if z.target + ".parameters" in ast.unparse(v).replace("self.", ""):
                return True
        return False

    def _step_without_backward(self, ctx: Context, loops: list[ast.AST]):
        """An optimizer step in a loop that computes a loss but never backpropagates it."""
        training = {id(lp) for lp in loops}
        for loop in ctx.nodes(ast.For, ast.AsyncFor, ast.While):
            if id(loop) in training or is_test_function(ctx, ctx.enclosing_function(loop)):
                continue
            if any(ctx.is_inside(t, loop) for t in loops):
                continue  # an outer (epoch) loop around a training loop
            evs = events(ctx, loop)
            steps = [e for e in evs if e.kind == "step" and not e.node.args and not e.node.keywords]
            if not steps or any(e.kind == "backward" for e in evs):
                continue
            if any(ctx.is_inside(loop, t) for t in loops):
                continue  # a loop nested in a training iteration
            if not self._computes_unused_loss(ctx, loop):
                continue
            if self._grads_by_hand(ctx, loop):
                continue
            s = steps[0]
            yield site(ctx, s), (
                f"`{s.target}.step()` runs with no `backward()` in the iteration: the loss is computed but never "
                "backpropagated, so the step applies zero or stale gradients and the model does not learn"
            )

    @staticmethod
    def _computes_unused_loss(ctx: Context, loop: ast.AST) -> bool:
        loss_names: set[str] = set()
        for n in walk_no_defs(loop):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name) and "loss" in t.id.lower():
                        loss_names.add(t.id)
        if not loss_names:
            return False
        for n in walk_no_defs(loop):
            if not isinstance(n, ast.Call):
                continue
            passed = [a for a in (*n.args, *(k.value for k in n.keywords)) if isinstance(a, ast.Name) and a.id in loss_names]
            if passed and callee_name(n) not in LOSS_READERS:
                return False  # handed to something that may backpropagate it (a helper from another module)
            if isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id in loss_names:
                if n.func.attr not in {"item", "detach", "cpu", "float", "mean", "sum", "tolist", "numpy"}:
                    return False
        # the losses must not be returned or stored elsewhere either (a closure, a list handed on)
        fn = ctx.enclosing_function(loop)
        if fn is not None:
            for r in ast.walk(fn):
                if isinstance(r, (ast.Return, ast.Yield)) and r.value is not None:
                    if any(isinstance(x, ast.Name) and x.id in loss_names for x in ast.walk(r.value)):
                        return False
        return True

    @staticmethod
    def _grads_by_hand(ctx: Context, loop: ast.AST) -> bool:
        for n in walk_no_defs(loop):
            if isinstance(n, ast.Attribute) and n.attr == "grad" and isinstance(n.ctx, ast.Store):
                return True
            if isinstance(n, ast.Call) and callee_name(n) in MANUAL_GRAD_CALLS | {"set_grad", "apply_gradients"}:
                return True
            if isinstance(n, ast.Attribute) and n.attr == "grad" and dotted(n.value):
                parent = ctx.parent(n)
                if isinstance(parent, ast.Attribute) and parent.attr in {"copy_", "add_", "data"}:
                    return True
        return False


def _in_exiting_branch(ctx: Context, node: ast.AST, loop: ast.AST) -> bool:
    """`node` sits in an if/except block of `loop` that ends with continue/break/return/raise (a skipped step)."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is loop:
            return False
        for field in ("body", "orelse", "handlers"):
            block = getattr(anc, field, None)
            if isinstance(anc, (ast.If, ast.ExceptHandler, ast.Try)) and isinstance(block, list) and child in block:
                last = block[-1]
                if isinstance(last, (ast.Continue, ast.Break, ast.Return, ast.Raise)):
                    return True
        child = anc
    return False
