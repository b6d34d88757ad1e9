"""PT-MODE001 missing-eval-mode."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ._mode_free import model_is_mode_free
from ._not_evaluation import is_smoke_test
from ..semantics import (
    MC_DROPOUT_RE,
    MODEL_FACTORY_RE,
    call_sites,
    evaluation_sites,
    mode_calls,
    sets_training_flag,
)

SETUP_FUNC_RE = re.compile(r"(__init__|load|setup|build|init|create|prepare|get_model|restore)", re.IGNORECASE)


class MissingEvalMode(Rule):
    code = "PT-MODE001"
    name = "missing-eval-mode"
    severity = Severity.high
    summary = "evaluation runs without `model.eval()`: Dropout stays active and BatchNorm uses batch statistics"
    why = (
        "`torch.no_grad()` only stops gradient tracking; it does not switch layers to inference behaviour. "
        "Without `model.eval()`, Dropout keeps zeroing activations and BatchNorm normalises with (and "
        "updates) the statistics of the evaluation batch, so the reported metrics are noisy and wrong, "
        "and the running statistics drift towards the validation data."
    )
    fix_text = "Call `model.eval()` before the evaluation loop (and `model.train()` again before training)."
    bad = (
        "def evaluate(model, loader):\n"
        "    with torch.no_grad():\n"
        "        for x, y in loader:\n"
        "            out = model(x)\n"
    )
    good = (
        "def evaluate(model, loader):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        for x, y in loader:\n"
        "            out = model(x)\n"
    )

    def check(self, ctx: Context):
        sites = [s for s in evaluation_sites(ctx) if s.how in ("function", "loader")]
        if not sites or MC_DROPOUT_RE.search(ctx.source):
            return
        eval_receivers = _eval_receivers(ctx)
        reported_scopes: set[int] = set()
        for site in sites:
            if site.how == "function" and id(site.scope) in reported_scopes:
                continue  # one finding per evaluation function: one eval() fixes it
            if is_smoke_test(ctx, site.scope, site.model):
                continue  # a shape check on a freshly built model measures nothing
            if site.model in eval_receivers or site.model.rsplit(".", 1)[-1] in eval_receivers:
                continue  # the model is put in eval mode elsewhere in the file (constructor, loader helper)
            if _scope_covered(ctx, site.scope, site.anchor, site.model, 0):
                continue
            if model_is_mode_free(ctx, site.model):
                continue  # an MLP / LSTM without dropout: eval() would change nothing
            if _wrapper_exposes_eval(ctx, site):
                continue  # an agent/trainer whose own eval() switches this model: its callers set the mode
            reported_scopes.add(id(site.scope))
            d = self.report(ctx, site.anchor) if isinstance(site.anchor, ast.Call) else self.report_at(
                ctx, site.anchor.lineno, site.anchor.col_offset
            )
            if _library_helper(ctx, site):
                # a helper that is handed the model and never called in the reviewed code: its callers
                # (not visible) may well set eval mode; still worth a look, not a CI-breaking alarm
                d.extra["severity"] = Severity.low
                d.message = (
                    f"`{site.scope.name}()` evaluates the `{site.model}` it is given without `.eval()` and no caller "
                    "in the reviewed code sets eval mode: unless every caller does, Dropout and BatchNorm run "
                    "in training mode and the metrics are wrong"
                )
            yield d


def _wrapper_exposes_eval(ctx: Context, site) -> bool:
    """The site is a method of a plain class (an RL agent, a trainer) that defines its own `eval()` calling
    `self.<model>.eval()` on the model evaluated here: mode is part of the class's API, set by its callers."""
    cls = ctx.enclosing_class(site.forward)
    if cls is None or ctx.is_module_class(cls) or not site.model.startswith("self."):
        return False
    for fn in cls.body:
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name == "eval":
            for call in ast.walk(fn):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "eval"
                        and dotted(call.func.value) == site.model):
                    return True
    return False


def _eval_receivers(ctx: Context) -> set[str]:
    """Dotted names the file puts in eval mode anywhere, or binds to a model built already in eval mode."""
    out: set[str] = set()
    for call in ctx.calls("eval") + ctx.calls("train"):
        if sets_training_flag(call) is not False:
            continue
        fn = ctx.enclosing_function(call)
        if fn is not None and not SETUP_FUNC_RE.search(fn.name):
            continue  # an eval() inside another evaluation routine says nothing about this one
        recv = call.func.value  # type: ignore[union-attr]
        parent = ctx.parent(call)
        if isinstance(recv, (ast.Name, ast.Attribute)):
            name = dotted(recv)
            if name:
                out.add(name)
        if isinstance(parent, ast.Assign):
            for t in parent.targets:
                name = dotted(t)
                if name:
                    out.add(name)
    for node in ctx.nodes(ast.Assign):
        value = node.value  # type: ignore[union-attr]
        if isinstance(value, ast.Call):
            q = ctx.call_qualname(value) or ""
            # HF from_pretrained returns the model in eval mode; TorchScript loads keep the saved mode
            if MODEL_FACTORY_RE.search(q) and q.endswith("from_pretrained") or q.endswith("jit.load"):
                for t in node.targets:  # type: ignore[union-attr]
                    name = dotted(t)
                    if name:
                        out.add(name)
    return out


def _scope_covered(ctx: Context, scope: ast.AST, at: ast.AST, model: str, depth: int) -> bool:
    """Is the model in eval mode at `at`: switched in `scope` (directly or via a local helper) or by a caller?"""
    last = _last_switch_before(ctx, scope, at, model)
    if last is not None:
        return last is False
    if isinstance(scope, ast.Module):
        return False
    if any(not flag for _, flag, _ in mode_calls(ctx, scope)):
        return True  # eval() later in the function (e.g. at the end of an epoch loop body)
    return _covered_by_callers(ctx, scope, model, depth)


def _library_helper(ctx: Context, site) -> bool:
    """An evaluation function that receives the model as a parameter and has no caller in the project."""
    fn = site.scope
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    params = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    return site.model.split(".", 1)[0] in params - {"self", "cls"} and not call_sites(ctx, fn)


def _covered_by_callers(ctx: Context, fn: ast.AST, model: str, depth: int) -> bool:
    if depth >= 3:
        return False
    for site in call_sites(ctx, fn):  # in the whole project when a tree is reviewed
        home = ctx.project.ctx_of(site) or ctx
        caller = home.enclosing_function(site) or home.tree
        last = _last_switch_before(home, caller, site, "")
        if last is False:
            return True
        if last is None and not isinstance(caller, ast.Module) and _covered_by_callers(ctx, caller, model, depth + 1):
            return True
    return False


def _last_switch_before(ctx: Context, scope: ast.AST, at: ast.AST, model: str) -> bool | None:
    """The mode last switched in `scope` before `at` (False: eval, True: train); None if never.

    A train() on something other than the model (`m.train()` on Dropout submodules) is not a switch back.
    """
    pos = (at.lineno, at.col_offset)  # type: ignore[attr-defined]
    last_name = model.rsplit(".", 1)[-1]
    last = None
    for p, flag, recv in mode_calls(ctx, scope):
        if p >= pos:
            break
        if flag and model and recv.rsplit(".", 1)[-1] != last_name:
            continue
        last = flag
    return last
