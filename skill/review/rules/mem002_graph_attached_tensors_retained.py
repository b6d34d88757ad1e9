"""PT-MEM002 graph-attached-tensors-retained."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    accumulation_loops,
    backward_receiver_names,
    evaluation_sites,
    is_graph_attached,
    maybe_grad_disabled,
    walk_scope,
)


class GraphAttachedTensorsRetained(Rule):
    code = "PT-MEM002"
    name = "graph-attached-tensors-retained"
    severity = Severity.medium
    summary = "outputs/losses that still require grad are collected in a list across iterations"
    why = (
        "Each stored tensor keeps its autograd graph (all the activations of its forward pass) alive as "
        "long as the list lives. Over an epoch or an evaluation run, memory grows with every batch and "
        "usually ends in an out-of-memory error."
    )
    fix_text = "Store `t.detach()` (or `t.detach().cpu()` / `t.item()`), or run the loop under `torch.no_grad()`."
    bad = (
        "all_logits = []\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    logits = model(x)\n"
        "    loss = criterion(logits, y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    all_logits.append(logits)\n"
    )
    good = (
        "all_logits = []\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    logits = model(x)\n"
        "    loss = criterion(logits, y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    all_logits.append(logits.detach())  # no graph; one .cpu() for all of them after the loop\n"
    )

    def check(self, ctx: Context):
        calls = [c for c in ctx.calls("append", "extend") if isinstance(c.func, ast.Attribute) and c.args]
        if not calls:
            return
        eval_scopes = None
        for call in calls:
            container = call.func.value  # type: ignore[union-attr]
            while isinstance(container, ast.Subscript):  # history["loss"].append(loss)
                container = container.value
            lst = dotted(container)
            if lst is None:
                continue
            loops = accumulation_loops(ctx, call)
            if not loops or maybe_grad_disabled(ctx, call):
                continue
            scope = ctx.enclosing_function(call) or ctx.tree
            if not backward_receiver_names(ctx, scope):
                # evaluation without no_grad: only where the scope is evaluation code
                if eval_scopes is None:
                    from .grad001_eval_without_no_grad import EvalWithoutNoGrad

                    flagged = list(EvalWithoutNoGrad().check(ctx))
                    lines = {d.line for d in flagged}
                    eval_scopes = {id(s.scope) for s in evaluation_sites(ctx) if _site_line(s) in lines}
                if id(scope) not in eval_scopes:
                    continue
            value = call.args[0]
            if call.func.attr == "extend":  # type: ignore[union-attr]
                if not isinstance(value, (ast.List, ast.Tuple)) or not value.elts:
                    continue
                value = value.elts[0]
            if not is_graph_attached(ctx, value, scope, call):
                continue
            if _consumed_by_backward(ctx, scope, lst):
                continue
            if any(not _reset_inside(loop, lst) for loop in loops):
                yield self.report(ctx, call)


def _site_line(site) -> int:
    return site.anchor.lineno


def _reset_inside(loop: ast.AST, lst: str) -> bool:
    for n in walk_scope(loop):
        if isinstance(n, (ast.Assign, ast.AnnAssign)):
            targets = list(n.targets) if isinstance(n, ast.Assign) else [n.target]
            targets += [e for t in targets if isinstance(t, (ast.Tuple, ast.List)) for e in t.elts]  # `a, b = [], []`
            if any(dotted(t) == lst for t in targets):
                return True
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "clear" and dotted(n.func.value) == lst or isinstance(n, ast.Delete) and any(dotted(t) == lst or (isinstance(t, ast.Subscript) and dotted(t.value) == lst) for t in n.targets):
            return True
    return False


def _consumed_by_backward(ctx: Context, scope: ast.AST, lst: str) -> bool:
    """REINFORCE-style lists: `torch.stack(log_probs).sum()` / `sum(losses)` backward()-ed once."""
    names = backward_receiver_names(ctx, scope)
    for call in ctx.calls("backward"):
        if (ctx.enclosing_function(call) or ctx.tree) is scope and any(
            dotted(x) == lst for x in ast.walk(call) if isinstance(x, (ast.Name, ast.Attribute))
        ):
            return True
    tainted = {lst}
    for n in sorted((n for n in walk_scope(scope) if isinstance(n, ast.Assign)), key=lambda n: n.lineno):
        if any(dotted(x) in tainted for x in ast.walk(n.value) if isinstance(x, (ast.Name, ast.Attribute))):
            for t in n.targets:
                for x in ast.walk(t):
                    if isinstance(x, ast.Name):
                        if x.id in names:
                            return True
                        tainted.add(x.id)
    return False
