"""PT-GRAD009 backward-through-stepped-weights."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls, in_no_grad, mutually_exclusive, name_bindings
from ._trainloop import classify, value_of

# methods of a module that do not run it (so their result carries no graph through its weights)
NOT_A_FORWARD = {
    "parameters", "named_parameters", "state_dict", "load_state_dict", "train", "eval", "zero_grad", "to", "cuda",
    "cpu", "modules", "named_modules", "children", "named_children", "apply", "requires_grad_", "buffers",
    "named_buffers", "half", "float", "double", "register_forward_hook", "register_buffer",
}
DETACHING = {"detach", "item", "tolist", "numpy", "cpu_detached", "detach_"}
MAX_DEPTH = 8


def _pos(node: ast.AST) -> tuple[int, int]:
    return (node.lineno, node.col_offset)  # type: ignore[attr-defined]


def _loss_expr(call: ast.Call) -> ast.AST | None:
    """`loss` of `loss.backward()`, `(a + b).backward()`, `scaler.scale(loss).backward()`."""
    recv = call.func.value  # type: ignore[union-attr]
    if isinstance(recv, ast.Call) and callee_name(recv) == "scale" and recv.args:
        return recv.args[0]
    if call.args and re.search(r"(accelerator|fabric|engine|trainer|^self$)", dotted(recv) or "", re.I):
        return call.args[0]  # `accelerator.backward(loss)`, `fabric.backward(loss)`
    return recv


def _optimizer_models(ctx: Context, opt: ast.AST) -> set[str]:
    """The models whose `.parameters()` the optimizer `opt` was built from (empty when unknown)."""
    out: set[str] = set()
    for value in value_of(ctx, opt):
        if not isinstance(value, ast.Call) or not value.args and not value.keywords:
            continue
        first = value.args[0] if value.args else next((k.value for k in value.keywords if k.arg == "params"), None)
        if first is None:
            continue
        sources = [first]
        if isinstance(first, ast.Name):  # `params = list(G.parameters()) + ...; Adam(params)`
            sources = [v for v in value_of(ctx, first) if v is not first] or sources
        for src in sources:
            for n in ast.walk(src):
                if isinstance(n, ast.Call) and callee_name(n) in {"parameters", "named_parameters"} and isinstance(
                    n.func, ast.Attribute
                ):
                    name = dotted(n.func.value)
                    if name:
                        out.add(name.removeprefix("self."))
    return out


class BackwardThroughSteppedWeights(Rule):
    code = "PT-GRAD009"
    name = "backward-through-stepped-weights"
    severity = Severity.high
    summary = (
        "A loss whose graph runs through a model is backpropagated after an optimizer already stepped that "
        "model's weights"
    )
    why = (
        "`optimizer.step()` updates the parameters in place. A graph built before the step saved the old weights "
        "for its backward, so backpropagating it afterwards raises 'one of the variables needed for gradient "
        "computation has been modified by an inplace operation' (the classic GAN crash when the generator loss "
        "reuses the discriminator outputs computed before the discriminator step); the gradients would belong to "
        "weights that no longer exist."
    )
    fix_text = (
        "Run the model again after the step (`g_loss = crit(D(fake), valid)` after `optD.step()`), or call every "
        "`backward()` that needs the shared graph before the first `step()`."
    )
    bad = (
        "import torch\nimport torch.nn as nn\n\n"
        "torch.manual_seed(0)\n"
        "G = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784))\n"
        "D = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))\n"
        "optG = torch.optim.Adam(G.parameters(), lr=2e-4)\n"
        "optD = torch.optim.Adam(D.parameters(), lr=2e-4)\n"
        "for real in loader:\n"
        "    optG.zero_grad()\n"
        "    optD.zero_grad()\n"
        "    fake = G(torch.randn(real.size(0), 64))\n"
        "    d_real, d_fake = D(real), D(fake)\n"
        "    d_loss = d_fake.mean() - d_real.mean()\n"
        "    d_loss.backward(retain_graph=True)\n"
        "    optD.step()\n"
        "    g_loss = -d_fake.mean()\n"
        "    g_loss.backward()\n"
        "    optG.step()\n"
    )
    good = (
        "import torch\nimport torch.nn as nn\n\n"
        "torch.manual_seed(0)\n"
        "G = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784))\n"
        "D = nn.Sequential(nn.Linear(784, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))\n"
        "optG = torch.optim.Adam(G.parameters(), lr=2e-4)\n"
        "optD = torch.optim.Adam(D.parameters(), lr=2e-4)\n"
        "for real in loader:\n"
        "    optD.zero_grad()\n"
        "    fake = G(torch.randn(real.size(0), 64))\n"
        "    d_loss = D(fake.detach()).mean() - D(real).mean()\n"
        "    d_loss.backward()\n"
        "    optD.step()\n"
        "    optG.zero_grad()\n"
        "    g_loss = -D(fake).mean()\n"
        "    g_loss.backward()\n"
        "    optG.step()\n"
    )

    def check(self, ctx: Context):
        steps = []
        for call in ctx.calls("step"):
            kind = classify(ctx, call)
            if kind and kind[0] == "step":
                steps.append(call)
        if not steps:
            return
        backs = backward_calls(ctx)
        if not backs:
            return
        models_of = {id(s): _optimizer_models(ctx, s.func.value) for s in steps}  # type: ignore[union-attr]
        known = set().union(*models_of.values())
        if not known:
            return
        for back in backs:
            fn = ctx.enclosing_function(back)
            later_steps = [s for s in steps if ctx.enclosing_function(s) is fn and _pos(s) < _pos(back)
                           and not mutually_exclusive(ctx, s, back) and not _branch_leaves(ctx, s, back)]
            if not later_steps:
                continue
            loss = _loss_expr(back)
            if loss is None:
                continue
            forwards = _forwards_feeding(ctx, fn, loss, back, known)
            if not forwards:
                continue
            for step in later_steps:
                owned = models_of[id(step)]
                if not owned:
                    continue
                hit = next((
                    (call, model) for call, model in forwards
                    if model in owned and _pos(call) < _pos(step) and not mutually_exclusive(ctx, call, step)
                ), None)
                if hit is None:
                    continue
                call, model = hit
                opt = dotted(step.func.value) or "the optimizer"  # type: ignore[union-attr]
                yield self.report(
                    ctx, back,
                    f"this loss backpropagates through `{model}` (run on line {call.lineno}) after `{opt}.step()` on "
                    f"line {step.lineno} changed its weights in place: backward fails with 'modified by an inplace "
                    f"operation' (or computes gradients for the old weights); run `{model}` again after the step or "
                    "do every backward before the step",
                )
                break


def _branch_leaves(ctx: Context, node: ast.AST, at: ast.AST) -> bool:
    """Is `node` in an if/try branch (not containing `at`) that ends with continue/break/return/raise, so the
    code after the branch never runs after `node`?"""
    child = node
    for anc in ctx.ancestors(node):
        if ctx.is_inside(at, anc) or isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            return False
        for field in ("body", "orelse", "finalbody"):
            block = getattr(anc, field, None)
            if isinstance(block, list) and child in block:
                if isinstance(block[-1], (ast.Continue, ast.Break, ast.Return, ast.Raise)):
                    return True
        child = anc
    return False


def _reaching(ctx: Context, fn: ast.AST | None, name: str, at: ast.AST) -> list[ast.stmt]:
    """Binding statements of `name` that may reach `at`: the latest one before it in the same function, and the
    ones before that while the later ones are conditional (inside an if/try of the function)."""
    cands = [stmt for stmt, _ in name_bindings(ctx).get(name, ())
             if _pos(stmt) < _pos(at) and ctx.enclosing_function(stmt) is fn and not ctx.is_inside(at, stmt)]
    cands.sort(key=_pos, reverse=True)
    out = []
    for stmt in cands:
        out.append(stmt)
        if _unconditional(ctx, stmt, at):
            break
    return out


def _unconditional(ctx: Context, stmt: ast.AST, at: ast.AST) -> bool:
    """Is `stmt` outside every if/try that does not also contain `at`?"""
    for anc in ctx.ancestors(stmt):
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            return True
        if isinstance(anc, (ast.If, ast.Try, ast.Match)) and not ctx.is_inside(at, anc):
            return False
        if isinstance(anc, (ast.For, ast.AsyncFor, ast.While)) and ctx.is_inside(at, anc):
            return True
    return True


def _forwards_feeding(ctx: Context, fn: ast.AST | None, expr: ast.AST, at: ast.AST, known: set[str]) -> list[tuple[ast.Call, str]]:
    """(call, model) for every forward pass of a model whose graph may reach `expr` (read at `at`), following the
    assignments of the names it reads backwards in the same function; `.detach()`, `.item()` and no-grad regions
    cut the graph."""
    out: list[tuple[ast.Call, str]] = []
    seen: set[int] = set()
    stack: list[tuple[ast.AST, ast.AST, int]] = [(expr, at, 0)]
    while stack:
        node, reader, depth = stack.pop()
        for sub, cut in _walk_graph(node):
            if cut:
                continue
            if isinstance(sub, ast.Call):
                model = _forward_model(ctx, sub, known)
                if model and not in_no_grad(ctx, sub):
                    out.append((sub, model))
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and depth < MAX_DEPTH:
                for stmt in _reaching(ctx, fn, sub.id, reader):
                    if id(stmt) in seen:
                        continue
                    seen.add(id(stmt))
                    value = getattr(stmt, "value", None)
                    if value is not None and not in_no_grad(ctx, stmt):
                        stack.append((value, stmt, depth + 1))
    return out


def _walk_graph(node: ast.AST):
    """(node, cut) over `node`'s subtree; cut=True under a detaching call (its receiver carries no graph)."""
    stack = [(node, False)]
    while stack:
        n, cut = stack.pop()
        yield n, cut
        if isinstance(n, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        here = cut or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in DETACHING)
        for child in ast.iter_child_nodes(n):
            stack.append((child, here))


def _forward_model(ctx: Context, call: ast.Call, known: set[str]) -> str | None:
    """`D(x)`, `self.D(x)`, `D.forward(x)`, `D.compute_loss(x)` -> "D" when D holds a module (or is a model an
    optimizer of the file was built over); else None."""
    from ..semantics import model_call_key, module_names

    if call.args or call.keywords:
        callee = (dotted(call.func) or "").removeprefix("self.")
        if callee in known:
            return callee
    key = model_call_key(ctx, call)
    if key:
        key = key.removesuffix(".forward")
        return key.removeprefix("self.")
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr not in NOT_A_FORWARD and (call.args or call.keywords):
        recv = dotted(func.value)
        if recv and (recv in module_names(ctx) or recv.removeprefix("self.") in known):
            return recv.removeprefix("self.")
    return None
