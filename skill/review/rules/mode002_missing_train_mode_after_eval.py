"""PT-MODE002 missing-train-mode-after-eval."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ._mode_free import model_is_mode_free
from ..semantics import (
    backward_calls,
    call_sites,
    is_eval_function_name,
    local_function,
    mode_calls,
    model_call_key,
    training_loop_of,
    walk_no_defs,
)


class MissingTrainModeAfterEval(Rule):
    code = "PT-MODE002"
    name = "missing-train-mode-after-eval"
    severity = Severity.high
    summary = "the model is switched to eval mode inside the epoch loop and never back to train mode"
    why = (
        "`model.eval()` is sticky. If the loop validates (directly or through a helper that calls eval()) "
        "but only calls `model.train()` once before the loop, every epoch after the first trains with "
        "Dropout off and BatchNorm frozen on its running statistics: training silently degrades."
    )
    fix_text = "Call `model.train()` at the start of every epoch (or at the top of the training function)."
    bad = (
        "def validate(model, loader):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        return sum(criterion(model(x), y).item() for x, y in loader)\n"
        "\n"
        "model.train()\n"
        "for epoch in range(10):\n"
        "    for x, y in train_loader:\n"
        "        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n"
        "        optimizer.step()\n"
        "    validate(model, val_loader)\n"
    )
    good = (
        "def validate(model, loader):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        return sum(criterion(model(x), y).item() for x, y in loader)\n"
        "\n"
        "for epoch in range(10):\n"
        "    model.train()\n"
        "    for x, y in train_loader:\n"
        "        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n"
        "        optimizer.step()\n"
        "    validate(model, val_loader)\n"
    )

    def check(self, ctx: Context):
        backwards = backward_calls(ctx)
        if not backwards or not (ctx.calls("eval") or ctx.calls("train") or _has_eval_named_calls(ctx)):
            return
        done: set[int] = set()
        for bw in backwards:
            train_loop = training_loop_of(ctx, bw)
            if train_loop is None or id(train_loop) in done:
                continue
            done.add(id(train_loop))
            loops = [train_loop, *ctx.loops_around(train_loop)]
            trained = {k.rsplit(".", 1)[-1] for n in walk_no_defs(train_loop) if isinstance(n, ast.Call)
                       for k in [model_call_key(ctx, n)] if k}
            if trained and all(model_is_mode_free(ctx, name) for name in trained):
                continue  # no Dropout/BatchNorm anywhere in the model: its mode changes nothing
            fn = ctx.enclosing_function(train_loop)
            if _deliberate_eval_before(ctx, fn or ctx.tree, train_loop, trained):
                continue  # `model.eval()` right before the loop: trained in eval mode on purpose (linear probing)
            candidates = list(loops)
            if fn is not None:
                for site in call_sites(ctx, fn):
                    candidates.extend(ctx.loops_around(site))
            for loop in candidates:
                if _leaves_eval(ctx, loop, trained):
                    yield self.report_at(ctx, train_loop.lineno, train_loop.col_offset)
                    break


def _has_eval_named_calls(ctx: Context) -> bool:
    return any(is_eval_function_name(name) for name in ctx.calls_by_name)


def _matches(recv: str, trained: set[str]) -> bool:
    if not trained or not recv:
        return True
    return recv.rsplit(".", 1)[-1] in trained or recv in {"self"}


LAST_PASS_RE = re.compile(r"(-\s*1\b|last|final|\bbest\b|patience|early_stop|should_stop)", re.IGNORECASE)


def _final_pass_only(ctx: Context, call: ast.Call | None, loop: ast.AST) -> bool:
    """Is the eval() under an `if` that ends the loop (early stopping) or runs on the last epoch only?"""
    if call is None:
        return False
    child: ast.AST = call
    for anc in ctx.ancestors(call):
        if anc is loop:
            break
        if isinstance(anc, ast.If) and child in anc.body:
            if any(isinstance(n, (ast.Break, ast.Return)) for s in anc.body for n in walk_no_defs(s)):
                return True
            if LAST_PASS_RE.search(ctx.segment(anc.test)):
                return True
        child = anc
    return False


def _leaves_eval(ctx: Context, loop: ast.AST, trained: set[str]) -> bool:
    """Does one pass of `loop` put the trained model in eval mode with no train() anywhere in it?"""
    switches = mode_calls(ctx, loop)
    if any(flag for _, flag, _ in switches):
        return False
    calls_at = {(n.lineno, n.col_offset): n for n in walk_no_defs(loop) if isinstance(n, ast.Call)}
    if any(not flag and _matches(recv, trained) and not _final_pass_only(ctx, calls_at.get(pos), loop)
           for pos, flag, recv in switches):
        return True
    # helpers from other files: `evaluate(model, ...)` switches to eval, `train_one_epoch(model, ...)` to train
    evals = False
    for n in walk_no_defs(loop):
        if not isinstance(n, ast.Call) or local_function(ctx, n) is not None:
            continue
        name = callee_name(n) or ""
        if not isinstance(n.func, ast.Name):
            continue
        args = {(dotted(a) or "").rsplit(".", 1)[-1] for a in n.args}
        model_args = args & trained if trained else {a for a in args if a in {"model", "net"}}
        if not model_args:
            continue
        if "train" in name.lower() or name.lower() in {"fit", "run_epoch", "one_epoch"}:
            return False
        if is_eval_function_name(name):
            evals = True
    return evals


def _deliberate_eval_before(ctx: Context, scope: ast.AST, train_loop: ast.AST, trained: set[str]) -> bool:
    """The training loop's own scope switches the model to eval as its last mode switch before the loop.

    Then the mode during training does not depend on what ran before (an evaluation elsewhere): the author chose
    eval mode for training, e.g. linear probing with a frozen BatchNorm backbone.
    """
    pos = (train_loop.lineno, train_loop.col_offset)
    last = None
    target = scope if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    for n in (*ctx.calls("eval"), *ctx.calls("train")):  # the index, not a walk of the (often long) scope
        if not isinstance(n.func, ast.Attribute) or ctx.enclosing_function(n) is not target:
            continue
        if target is None and any(isinstance(a, ast.ClassDef) for a in ctx.ancestors(n)):
            continue
        if (n.lineno, n.col_offset) >= pos or ctx.loops_around(n) != ctx.loops_around(train_loop):
            continue
        recv = dotted(n.func.value) or ""
        if not recv or not _matches(recv, trained):
            continue
        is_eval = n.func.attr == "eval" and not n.args
        if n.func.attr == "train" and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value is False:
            is_eval = True
        if last is None or (n.lineno, n.col_offset) > last[0]:
            last = ((n.lineno, n.col_offset), is_eval)
    return last is not None and last[1]
