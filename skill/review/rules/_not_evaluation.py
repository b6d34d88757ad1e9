"""Forward passes that look like evaluation but are not: shared by PT-GRAD001 and PT-MODE001.

Both were found as false alarms on real repositories (bench/real_corpus.py):
- a shape smoke test, `def test(): net = ResNet18(); y = net(torch.randn(1, 3, 32, 32)); print(y.size())`: the model
  is built in the same function and never loaded with weights, so nothing is measured;
- a generation pipeline call, `pipeline(prompt, num_inference_steps=20)`: diffusers' `DiffusionPipeline.__call__` and
  transformers' `Pipeline.__call__` already run under `torch.no_grad()` / `inference_mode()`.
"""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted
from ..semantics import walk_scope

PRETRAINED_KW_RE = re.compile(r"(pretrain|weight|ckpt|checkpoint|path|resume|load)", re.IGNORECASE)
PIPELINE_NAME_RE = re.compile(r"(^|_)(pipe|pipeline)$", re.IGNORECASE)
CHAIN = {"to", "cuda", "from_pretrained", "from_single_file", "from_pipe"}
WEIGHT_LOADERS = {"load_state_dict", "load", "from_pretrained", "load_checkpoint", "load_from_checkpoint",
                  "load_model", "restore", "set_state_dict", "load_weights"}


def _bindings(scope: ast.AST, name: str) -> list[ast.expr]:
    out = []
    for n in walk_scope(scope):
        if isinstance(n, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
                out.append(n.value)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == name and n.value:
            out.append(n.value)
    return out


def _is_constructor(ctx: Context, value: ast.expr, depth: int = 0) -> bool:
    """`Net(...)`, `models.ResNet18(...)`, `Net(...).to(device)`, or a factory of this file that returns one
    (`def densenet_cifar(): return DenseNet(...)`): fresh random weights."""
    while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in {"to", "cuda", "cpu", "double", "float"}:
        value = value.func.value
    if not isinstance(value, ast.Call):
        return False
    name = callee_name(value) or ""
    if any(kw.arg is None or PRETRAINED_KW_RE.search(kw.arg) for kw in value.keywords):
        return False  # `Net(pretrained=True)`, `Net(ckpt_path=...)`, `Net(**cfg)`: weights may be loaded inside
    if name[:1].isupper():
        return name != "DataParallel"
    if depth >= 2 or not isinstance(value.func, ast.Name):
        return False
    factories = ctx.functions_by_name.get(name) or []
    if len(factories) != 1:
        return False
    returns = [n.value for n in ast.walk(factories[0]) if isinstance(n, ast.Return) and n.value is not None]
    return bool(returns) and all(_is_constructor(ctx, r, depth + 1) for r in returns) and not any(
        isinstance(n, ast.Call) and callee_name(n) in WEIGHT_LOADERS for n in ast.walk(factories[0]))


def is_smoke_test(ctx: Context, scope: ast.AST, model: str) -> bool:
    """The model is a local built from its class in this function and no weights are ever loaded into it here,
    or the function is a demo run on module-level models before the script trains them (`test()` called right
    after the models are built)."""
    if isinstance(scope, ast.Module) or "." in model:
        return False
    if _pretraining_demo(ctx, scope, model):
        return True
    values = _bindings(scope, model)
    if not values or not all(_is_constructor(ctx, v) for v in values):
        return False
    if any(isinstance(a, ast.arg) and a.arg == model for a in ast.walk(scope.args)):  # type: ignore[attr-defined]
        return False
    if any(isinstance(n, (ast.For, ast.AsyncFor, ast.While)) for n in walk_scope(scope)):
        return False  # a loop over data: an evaluation, even of a fresh model
    for n in walk_scope(scope):
        if isinstance(n, ast.Call) and callee_name(n) in WEIGHT_LOADERS:
            return False
    return True


def _pretraining_demo(ctx: Context, fn: ast.AST, model: str) -> bool:
    """`fn` uses the module-level `model` (built by a constructor), and every call of `fn` is a module statement
    that runs before the module's first training loop and before any weights are loaded."""
    from ..semantics import training_loops

    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or ctx.enclosing_function(fn) is not None:
        return False
    if _bindings(fn, model) or any(a.arg == model for a in ast.walk(fn.args) if isinstance(a, ast.arg)):
        return False
    top = [n.value for n in ctx.tree.body if isinstance(n, ast.Assign) and any(dotted(t) == model for t in n.targets)]
    if not top or not all(_is_constructor(ctx, v) for v in top):
        return False
    for n in walk_scope(fn):
        if isinstance(n, (ast.For, ast.AsyncFor)) and re.search(r"(loader|dataset|data\b|batch)", ctx.segment(n.iter), re.I):
            return False  # it iterates over data: an evaluation
    from ._trainloop import role_of_value

    marks = [lp.lineno for lp in training_loops(ctx) if ctx.enclosing_function(lp) is None]
    # the module builds the optimizer after the demo: training starts there
    marks += [n.lineno for n in ctx.tree.body if isinstance(n, ast.Assign) and role_of_value(ctx, n.value) == "optimizer"]
    if not marks:
        return False
    first_train = min(marks)
    loads = [c.lineno for c in ctx.nodes(ast.Call) if callee_name(c) in WEIGHT_LOADERS and ctx.enclosing_function(c) is None]
    sites = [c for c in ctx.calls(fn.name) if isinstance(c.func, ast.Name)]  # type: ignore[attr-defined]
    if not sites:
        return False
    for c in sites:
        if ctx.enclosing_function(c) is not None or c.lineno >= first_train or any(ln < c.lineno for ln in loads):
            return False
    return True


def is_pipeline_call(ctx: Context, scope: ast.AST, forward: ast.Call, model: str) -> bool:
    """A diffusers/transformers pipeline called: its `__call__` disables gradients itself."""
    last = model.rsplit(".", 1)[-1]
    if PIPELINE_NAME_RE.search(last):
        return True
    if isinstance(scope, ast.Module) or "." in model:
        values = [n.value for n in ctx.nodes(ast.Assign)
                  if any(dotted(t) == model for t in n.targets)]  # type: ignore[union-attr]
    else:
        values = _bindings(scope, model)
    for v in values:
        # `StableDiffusionPipeline.from_pretrained(...).to(device)`, `pipeline("text-generation", ...)`
        while isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in CHAIN:
            v = v.func.value
        name = callee_name(v) if isinstance(v, ast.Call) else (dotted(v) or "").rsplit(".", 1)[-1]
        if name and (name.endswith("Pipeline") or name == "pipeline"):
            return True
    return False
