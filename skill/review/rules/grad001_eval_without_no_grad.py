"""PT-GRAD001 eval-without-no-grad."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ._not_evaluation import is_pipeline_call, is_smoke_test
from ..semantics import (
    call_sites,
    evaluation_sites,
    has_grad_disabling_decorator,
    maybe_grad_disabled,
    walk_no_defs,
)

# Evaluation that needs gradients on purpose (saliency maps, adversarial examples, influence functions).
NEEDS_GRAD_NAME_RE = re.compile(r"(saliency|adversar|attack|fgsm|pgd|grad_?cam|integrated|influence|explain|attribution)", re.IGNORECASE)


class EvalWithoutNoGrad(Rule):
    code = "PT-GRAD001"
    name = "eval-without-no-grad"
    severity = Severity.medium
    summary = "evaluation forward passes run with autograd on (no `torch.no_grad()`/`torch.inference_mode()`)"
    why = (
        "Outside a no-grad region every forward pass records the autograd graph and keeps the activations "
        "it needs for a backward that never comes: evaluation uses several times more memory and runs "
        "slower, and any output stored for metrics keeps its whole graph alive."
    )
    fix_text = "Wrap the evaluation loop in `with torch.inference_mode():` (or decorate the function with `@torch.no_grad()`)."
    bad = (
        "model.eval()\n"
        "for x, y in val_loader:\n"
        "    out = model(x)\n"
    )
    good = (
        "model.eval()\n"
        "with torch.inference_mode():\n"
        "    for x, y in val_loader:\n"
        "        out = model(x)\n"
    )

    def check(self, ctx: Context):
        sites = evaluation_sites(ctx)
        if not sites or _grad_globally_disabled(ctx):
            return
        reported: set[int] = set()
        for site in sites:
            if maybe_grad_disabled(ctx, site.forward) or maybe_grad_disabled(ctx, site.anchor):
                continue
            if is_pipeline_call(ctx, site.scope, site.forward, site.model) or is_smoke_test(ctx, site.scope, site.model):
                continue  # a pipeline disables grad itself; a fresh model's shape check measures nothing
            if _forward_disables_grad(ctx, site.model, site.scope):
                continue  # the model's class runs its own forward under no_grad/inference_mode
            scope = site.scope
            if id(scope) in reported and site.how == "function":
                continue
            # a loop is judged on its own body (a training function may validate without no_grad)
            region = site.anchor if not isinstance(site.anchor, ast.Call) else scope
            if _needs_grad(ctx, region, getattr(scope, "name", "")) or _disables_grad_by_call(ctx, scope, site.forward):
                continue
            if not isinstance(scope, ast.Module) and _callers_disable_grad(ctx, scope, 0):
                continue
            reported.add(id(scope))
            anchor = site.anchor
            yield self.report(ctx, anchor) if isinstance(anchor, ast.Call) else self.report_at(
                ctx, anchor.lineno, anchor.col_offset
            )


def _forward_disables_grad(ctx: Context, model: str, scope: ast.AST) -> bool:
    """`feature_model = FeatureExtractor(backbone)` whose class (in this file or the reviewed tree) runs all of
    `forward` under `torch.no_grad()` / `torch.inference_mode()` (a `with` around the body, or a decorator)."""
    from ..semantics import NO_GRAD_CALLS, name_bindings

    home, cls = ctx, None
    for stmt, value in name_bindings(ctx).get(model, ()):
        if ctx.enclosing_function(stmt) not in (scope, None) or not isinstance(value, ast.Call):
            continue
        cname = value.func.id if isinstance(value.func, ast.Name) else None
        if cname is None:
            return False
        if cname in ctx.classes_by_name:
            cls = ctx.classes_by_name[cname]
        else:
            found = ctx.project.resolve_name(ctx, cname)
            if isinstance(found, tuple) and isinstance(found[1], ast.ClassDef):
                home, cls = found
    if not isinstance(cls, ast.ClassDef):
        return False
    forward = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward"), None)
    if forward is None:
        return False
    if has_grad_disabling_decorator(home, forward):
        return True
    body = [st for st in forward.body if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant))]
    withs = [st for st in body if isinstance(st, ast.With)]
    rest = [st for st in body if not isinstance(st, ast.With)]
    if len(withs) != 1 or any(not (isinstance(st, ast.Return) and isinstance(st.value, (ast.Name, ast.Tuple, type(None))))
                              for st in rest):
        return False
    for item in withs[0].items:
        expr = item.context_expr
        target = expr.func if isinstance(expr, ast.Call) else expr
        if (dotted(target) or "").rsplit(".", 1)[-1] in NO_GRAD_CALLS:
            return True
    return False


def _grad_globally_disabled(ctx: Context) -> bool:
    """`torch.set_grad_enabled(False)` / `torch.autograd.set_grad_enabled(False)` as a module statement."""
    for call in ctx.calls("set_grad_enabled"):
        parent = ctx.parent(call)
        if isinstance(parent, ast.Expr) and ctx.enclosing_function(call) is None:
            arg = call.args[0] if call.args else kwarg_value(call, "mode")
            if isinstance(arg, ast.Constant) and arg.value is False:
                return True
    return False


def _disables_grad_by_call(ctx: Context, scope: ast.AST, forward: ast.Call) -> bool:
    """`torch.set_grad_enabled(False)` called as a statement earlier in the same scope."""
    for call in ctx.calls("set_grad_enabled"):
        if isinstance(ctx.parent(call), ast.Expr) and (ctx.enclosing_function(call) or ctx.tree) is scope:
            if call.lineno <= forward.lineno:
                return True
    return False


def _needs_grad(ctx: Context, scope: ast.AST, name: str) -> bool:
    """Code that wants gradients: backward/autograd.grad, requires_grad on inputs, reads of `.grad`."""
    if name and NEEDS_GRAD_NAME_RE.search(name):
        return True
    for n in walk_no_defs(scope):
        if isinstance(n, ast.Call):
            cname = callee_name(n)
            if cname in {"backward", "grad", "requires_grad_", "retain_grad", "enable_grad", "vjp", "jacobian", "hessian"}:
                return True
            kw = kwarg_value(n, "requires_grad")
            if isinstance(kw, ast.Constant) and kw.value is True:
                return True
        elif isinstance(n, ast.Attribute) and n.attr in {"grad", "requires_grad"}:
            return True
    return False


def _callers_disable_grad(ctx: Context, fn: ast.AST, depth: int) -> bool:
    """Is some call of `fn` in this file made under no_grad (directly, or by a caller that is)?"""
    if depth >= 3:
        return False
    for site in call_sites(ctx, fn):
        if maybe_grad_disabled(ctx, site):
            return True
        home = ctx.project.ctx_of(site) or ctx  # a caller in another file of the reviewed tree
        caller = home.enclosing_function(site)
        if caller is None:
            if _disables_grad_by_call(home, home.tree, site):
                return True
            continue
        if has_grad_disabling_decorator(home, caller) or _disables_grad_by_call(home, caller, site):
            return True
        if _callers_disable_grad(ctx, caller, depth + 1):
            return True
    return False
