"""PyTorch-specific meaning on top of the syntax: training loops, grad-disabled regions, eval code.

Shared by many rules; each helper is a small pure function of a `Context` and nodes.
"""

from __future__ import annotations

import ast
import re

from .analysis import Context, callee_name, dotted, is_true, kwarg_value, receiver

NO_GRAD_CALLS = {"no_grad", "inference_mode"}
EVAL_FUNC_RE = re.compile(r"(^|_)(eval|evaluate|evaluation|valid|validate|validation|val|test|predict|inference|infer)(_|$)", re.I)
EVAL_DATA_RE = re.compile(r"(val|valid|validation|test|eval|dev|holdout)", re.I)
# Framework hooks in which the framework sets train/eval mode and grad mode itself.
FRAMEWORK_EVAL_HOOKS = {"validation_step", "test_step", "predict_step", "on_validation_epoch_end", "validation_epoch_end"}


def is_grad_disabling_with_item(ctx: Context, item: ast.withitem) -> bool:
    """`with torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(False)`."""
    expr = item.context_expr
    if not isinstance(expr, ast.Call):
        return False
    name = callee_name(expr)
    if name in NO_GRAD_CALLS:
        mode = expr.args[0] if expr.args else kwarg_value(expr, "mode")
        return not (name == "inference_mode" and mode is not None and isinstance(mode, ast.Constant) and mode.value is False)
    if name == "set_grad_enabled":
        arg = expr.args[0] if expr.args else kwarg_value(expr, "mode")
        return isinstance(arg, ast.Constant) and arg.value is False
    return False


def has_grad_disabling_decorator(ctx: Context, fn: ast.AST) -> bool:
    for dec in getattr(fn, "decorator_list", ()):
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = dotted(target) or ""
        if name.rsplit(".", 1)[-1] in NO_GRAD_CALLS:
            return True
    return False


def in_no_grad(ctx: Context, node: ast.AST) -> bool:
    """Is `node` lexically inside a grad-disabled region (with-block or decorated function)?

    Looks through enclosing functions too (a nested function defined under no_grad runs there only
    if called there, but that is the common closure case).
    """
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)) and child in anc.body:
            if any(is_grad_disabling_with_item(ctx, it) for it in anc.items):
                return True
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_grad_disabling_decorator(ctx, anc):
            return True
        child = anc
    return False


def backward_calls(ctx: Context) -> list[ast.Call]:
    """`loss.backward()`, `scaler.scale(loss).backward()`, `torch.autograd.backward(...)`."""
    return [c for c in ctx.calls("backward") if isinstance(c.func, ast.Attribute)]


def training_loops(ctx: Context) -> list[ast.AST]:
    """Loops whose body (directly or nested) calls backward() or optimizer.step(): training loops.

    Returned innermost-first per backward call, de-duplicated, in source order.
    """
    loops: dict[int, ast.AST] = {}
    for call in backward_calls(ctx):
        for loop in ctx.loops_around(call):
            loops[id(loop)] = loop
    return sorted(loops.values(), key=lambda n: (n.lineno, n.col_offset))


def is_training_loop(ctx: Context, loop: ast.AST) -> bool:
    return any(ctx.is_inside(c, loop) for c in backward_calls(ctx))


def is_eval_function_name(name: str) -> bool:
    return bool(EVAL_FUNC_RE.search(name)) and name not in FRAMEWORK_EVAL_HOOKS


def loop_iter_name(loop: ast.AST) -> str:
    """Source-ish text of what a for loop iterates over (`val_loader`, `enumerate(test_dl)`)."""
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        return " ".join(filter(None, (dotted(n) for n in ast.walk(loop.iter) if isinstance(n, (ast.Name, ast.Attribute)))))
    return ""


def is_cuda_availability_test(ctx: Context, expr: ast.AST) -> bool:
    """Does `expr` test for CUDA availability (`torch.cuda.is_available()`, `args.cuda`, `use_cuda`...)?"""
    for n in ast.walk(expr):
        if isinstance(n, ast.Call) and callee_name(n) in {"is_available", "device_count"}:
            return True
        name = dotted(n) if isinstance(n, (ast.Name, ast.Attribute)) else None
        if name and re.search(r"(cuda|gpu)", name.rsplit(".", 1)[-1], re.I):
            return True
    return False


def is_guarded_by_cuda_check(ctx: Context, node: ast.AST) -> bool:
    """Is `node` under an `if`/ternary/`and` that tests CUDA availability (either branch)?"""
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.If, ast.IfExp, ast.While)) and child is not anc.test:
            if is_cuda_availability_test(ctx, anc.test):
                return True
        if isinstance(anc, ast.BoolOp) and any(is_cuda_availability_test(ctx, v) for v in anc.values if v is not child):
            return True
        child = anc
    return False


def call_receiver_name(call: ast.Call) -> str | None:
    """`model.eval()` -> 'model'; `self.model.eval()` -> 'self.model'."""
    recv = receiver(call)
    return dotted(recv) if recv is not None else None


def sets_training_flag(call: ast.Call) -> bool | None:
    """True for `.train()`/`.train(True)`, False for `.eval()`/`.train(False)`, None otherwise."""
    name = callee_name(call)
    if name == "eval" and not call.args and isinstance(call.func, ast.Attribute):
        return False
    if name == "train" and isinstance(call.func, ast.Attribute):
        if not call.args:
            mode = kwarg_value(call, "mode")
            return True if mode is None else is_true(mode) if isinstance(mode, ast.Constant) else True
        arg = call.args[0]
        if isinstance(arg, ast.Constant):
            return bool(arg.value)
        return True
    return None
