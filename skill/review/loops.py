"""Training and evaluation structure: training loops, evaluation sites, train/eval mode switches (followed through helpers).
"""

from __future__ import annotations

import ast

from .analysis import Context, callee_name, dotted, is_true, kwarg_value
from .torch_tables import (
    DATAISH_RE,
    EVAL_DATA_TOKEN_RE,
    EVAL_EXTRA_FUNC_RE,
    EVAL_FUNC_RE,
    FRAMEWORK_EVAL_HOOKS,
    LOADER_RE,
)
from .scopes import (
    _cache,
    call_receiver_name,
    call_sites,
    loop_iter_text,
    walk_no_defs,
    walk_scope,
)
from .gradmode import (
    backward_calls,
)
from .filekind import (
    class_is_framework,
    is_test_function,
    is_torch_code,
)
from .dataflow import (
    is_optimizer_name,
    model_call_key,
)

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


def is_eval_data_loop(loop: ast.AST) -> bool:
    return bool(EVAL_DATA_TOKEN_RE.search(loop_iter_text(loop)))


def contains_training_step(ctx: Context, node: ast.AST) -> bool:
    """Does `node` contain a backward() call or an optimizer step?"""
    for n in walk_no_defs(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            if n.func.attr == "backward":
                return True
            if n.func.attr == "step" and is_optimizer_name(dotted(n.func.value) or ""):
                return True
    return False


class EvalSite:
    """One piece of evaluation/inference code: its scope, the loop (or forward call) to report, how found."""

    __slots__ = ("scope", "anchor", "forward", "model", "how")

    def __init__(self, scope, anchor, forward, model, how):
        self.scope, self.anchor, self.forward, self.model, self.how = scope, anchor, forward, model, how


def _pick_anchor(loops: list[ast.AST]) -> ast.AST | None:
    for loop in loops:  # innermost first
        if DATAISH_RE.search(loop_iter_text(loop)):
            return loop
    return loops[0] if loops else None


def _has_eval_call_before(ctx: Context, scope: ast.AST, model: str, node: ast.AST) -> bool:
    last = model.rsplit(".", 1)[-1]
    state = None
    for n in walk_scope(scope):
        if isinstance(n, ast.Call) and (n.lineno, n.col_offset) < (node.lineno, node.col_offset):
            flag = sets_training_flag(n)
            if flag is None:
                continue
            recv = call_receiver_name(n) or ""
            if recv.rsplit(".", 1)[-1] == last:
                if state is None or (n.lineno, n.col_offset) > state[0]:
                    state = ((n.lineno, n.col_offset), flag)
    return state is not None and state[1] is False


def _constructed_in(ctx: Context, scope: ast.AST, model: str) -> bool:
    """`model = BiGRU(...)` (a class built right here, then weights loaded): its mode is this scope's to set.
    A model returned by a helper (`load_model(path)`) may come back in eval mode: not assumed."""
    from .scopes import name_bindings

    for stmt, value in name_bindings(ctx).get(model, ()):
        if (ctx.enclosing_function(stmt) or ctx.tree) is not scope:
            continue
        while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in {"to", "cuda", "float", "half"}:
            value = value.func.value
        if isinstance(value, ast.Call) and (callee_name(value) or "")[:1].isupper():
            return True
    return False


def _helper_forward_model(ctx: Context, call: ast.Call) -> str | None:
    """`self._step(batch)` / `forward_batch(model, batch)`: a method of the same class (or a function of this
    file) that runs the model's forward and takes no training step itself; the model it calls, else None."""
    func = call.func
    fn = None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        cls = ctx.enclosing_class(call)
        if cls is not None:
            fn = next((f for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == func.attr), None)
    elif isinstance(func, ast.Name):
        fns = ctx.functions_by_name.get(func.id, [])
        fn = fns[0] if len(fns) == 1 and ctx.enclosing_class(fns[0]) is None else None
    if fn is None or contains_training_step(ctx, fn) or is_eval_function_name(fn.name) or EVAL_EXTRA_FUNC_RE.search(fn.name):
        return None  # an evaluation function of its own is a site of its own
    for n in walk_no_defs(fn):
        if isinstance(n, (ast.With, ast.AsyncWith)) or (isinstance(n, ast.Call) and (
                sets_training_flag(n) is not None or callee_name(n) in {"no_grad", "inference_mode", "set_grad_enabled"})):
            return None  # the helper manages grad or train/eval mode itself
    for n in walk_no_defs(fn):
        if isinstance(n, ast.Call):
            key = model_call_key(ctx, n)
            if key is not None and not isinstance(func, ast.Name):
                return key
            if key is not None and key.split(".", 1)[0] not in {a.arg for a in fn.args.args}:
                return key  # a module-level model, not a parameter renamed at the call
    return None


def evaluation_sites(ctx: Context) -> list[EvalSite]:
    """Evaluation/inference forward passes: in functions named like evaluate/validate/test/predict, in
    loops over validation/test data, or after `model.eval()` in the same scope. Training code (loops with
    backward/optimizer steps), framework hooks and unit tests are excluded."""

    def make() -> list[EvalSite]:
        if not is_torch_code(ctx):
            return []
        has_eval_fn = any(is_eval_function_name(n) or EVAL_EXTRA_FUNC_RE.search(n) for n in ctx.functions_by_name)
        has_eval_loop = any(is_eval_data_loop(lp) for lp in ctx.nodes(ast.For, ast.AsyncFor))
        inference_file = not ctx.calls("backward") and bool(ctx.calls("no_grad") or ctx.calls("inference_mode"))
        if not (has_eval_fn or has_eval_loop or ctx.calls("eval") or ctx.calls("train") or inference_file):
            return []
        # Only scopes that can hold evaluation code: eval-named functions, scopes with eval-data loops or eval().
        scopes: dict[int, ast.AST] = {}
        for name, fns in ctx.functions_by_name.items():
            if is_eval_function_name(name) or EVAL_EXTRA_FUNC_RE.search(name):
                for f in fns:
                    scopes[id(f)] = f
        for lp in ctx.nodes(ast.For, ast.AsyncFor):
            if is_eval_data_loop(lp):
                sc = ctx.enclosing_function(lp) or ctx.tree
                scopes[id(sc)] = sc
        for c in ctx.calls("eval") + ctx.calls("train"):
            if sets_training_flag(c) is False:
                sc = ctx.enclosing_function(c) or ctx.tree
                scopes[id(sc)] = sc
        # An inference-only file (no backward anywhere): the loops run under `with torch.no_grad()` /
        # `inference_mode()` are predictions, whatever the loader is called (`predict.py` over `loader`).
        inference_loops: set[int] = set()
        if inference_file:
            for w in ctx.nodes(ast.With):
                if any(isinstance(it.context_expr, ast.Call) and callee_name(it.context_expr) in {"no_grad", "inference_mode"}
                       for it in w.items):  # type: ignore[attr-defined]
                    # over data (a loader, batches), not `for _ in range(n)` timing / warm-up loops of a benchmark
                    loops_in = [n for n in walk_no_defs(w) if isinstance(n, (ast.For, ast.AsyncFor))
                                and DATAISH_RE.search(loop_iter_text(n))]
                    if loops_in:
                        inference_loops.update(id(lp) for lp in loops_in)
                        sc = ctx.enclosing_function(w) or ctx.tree
                        scopes[id(sc)] = sc
        candidates = sorted(
            (n for sc in scopes.values() for n in walk_scope(sc) if isinstance(n, ast.Call)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        sites: list[EvalSite] = []
        seen: set[int] = set()
        for call in candidates:
            model = model_call_key(ctx, call)  # type: ignore[arg-type]
            if model is None:
                model = _helper_forward_model(ctx, call)  # type: ignore[arg-type]
            if model is None:
                continue
            fn = ctx.enclosing_function(call)
            scope = fn if fn is not None else ctx.tree
            cls = ctx.enclosing_class(call)
            if class_is_framework(ctx, cls) or is_test_function(ctx, fn):
                continue
            if fn is not None and fn.name in FRAMEWORK_EVAL_HOOKS:
                continue
            loops = ctx.loops_around(call)
            if loops and contains_training_step(ctx, loops[0]):
                continue  # a forward pass of the training step
            eval_loops: list[ast.AST] = []
            for loop in loops:
                if contains_training_step(ctx, loop):
                    break
                eval_loops.append(loop)
            in_module_class = cls is not None and ctx.is_module_class(cls)
            how = None
            anchor = None
            if (fn is not None and (is_eval_function_name(fn.name) or EVAL_EXTRA_FUNC_RE.search(fn.name))
                    and not contains_training_step(ctx, fn)):
                if not in_module_class or any(DATAISH_RE.search(loop_iter_text(lp)) for lp in eval_loops):
                    how, anchor = "function", _pick_anchor(eval_loops) or call
            if how is None:
                data_loops = [lp for lp in eval_loops if is_eval_data_loop(lp)
                              or (id(lp) in inference_loops and _constructed_in(ctx, scope, model))]
                if data_loops:
                    how, anchor = "loader", data_loops[0]
            if how is None and not in_module_class and _has_eval_call_before(ctx, scope, model, call):
                anchor = _pick_anchor(eval_loops)
                if anchor is not None or isinstance(ctx.statement_of(call), (ast.Assign, ast.Return, ast.AnnAssign)):
                    how, anchor = "after-eval", anchor or call  # (a bare `f(*inputs)` is a warm-up call)
            if how is None or id(anchor) in seen:
                continue
            seen.add(id(anchor))
            sites.append(EvalSite(scope, anchor, call, model, how))
        return sites

    return _cache(ctx, "eval_sites", make)


def accumulation_loops(ctx: Context, node: ast.AST) -> list[ast.AST]:
    """Loops across whose iterations a value accumulated at `node` would outlive an iteration.

    Inside a training loop (one that calls backward), loops nested within it (time steps, heads) run
    within one iteration: only the training loop and the loops around it count.
    """
    loops = ctx.loops_around(node)
    for i, loop in enumerate(loops):
        if contains_training_step(ctx, loop):
            # a nested loop over a data loader (validation inside the epoch loop) still counts
            inner = [lp for lp in loops[:i] if is_eval_data_loop(lp) or LOADER_RE.search(loop_iter_text(lp))]
            return inner + loops[i:]
    return loops


def training_loop_of(ctx: Context, node: ast.AST, depth: int = 0) -> ast.AST | None:
    """The innermost loop that runs `node` once per step: in its own function, or else around a call of
    that (local) function, e.g. timm's nested `_backward()` called from the batch loop."""
    loops = ctx.loops_around(node)
    if loops:
        return loops[0]
    fn = ctx.enclosing_function(node)
    if fn is None or depth >= 2:
        return None
    for site in call_sites(ctx, fn):
        loop = training_loop_of(ctx, site, depth + 1)
        if loop is not None:
            return loop
    return None


def mode_calls(ctx: Context, node: ast.AST, depth: int = 0) -> list[tuple[tuple[int, int], bool, str]]:
    """Train/eval mode switches executed by `node`, in source order, following the calls it makes
    (helpers, methods, imported functions: their summaries, see `skill.review.summaries`):
    [(position, is_train, receiver)]. A callee's switches take the position of the call, with its
    parameters renamed to the caller's arguments (`set_mode(net, False)` -> (pos, False, "net"))."""
    from .scopes import _home

    home = _home(ctx, node)
    memo = home.__dict__.setdefault("_pp_mode_calls", {})
    hit = memo.get(id(node))
    if hit is None or hit[0] is not node or hit[1] is not home.project:  # the node kept: its id stays unique
        hit = memo[id(node)] = (node, home.project, _mode_calls(home, node))
    return list(hit[2])


def _mode_calls(home: Context, node: ast.AST) -> list[tuple[tuple[int, int], bool, str]]:
    proj = home.project
    out = []
    for n in walk_no_defs(node):
        if not isinstance(n, ast.Call):
            continue
        flag = sets_training_flag(n)
        pos = (n.lineno, n.col_offset)
        if flag is not None:
            out.append((pos, flag, call_receiver_name(n) or ""))
            continue
        if callee_name(n) in _NOT_HELPERS:
            continue
        eff = proj.effects_at(home, n)
        if eff is not None and eff.fn is not node:
            for e in eff.events:
                if e.kind in ("eval", "train"):
                    out.append((pos, e.kind == "train", e.recv))
    out.sort(key=lambda e: e[0])
    return out


# calls that are never helpers worth summarising (cheap filter on hot paths)
_NOT_HELPERS = frozenset({"print", "len", "range", "enumerate", "zip", "isinstance", "getattr", "setattr",
                          "super", "format", "item", "size", "view", "reshape", "append", "extend", "to"})


def sets_eval_somewhere(ctx: Context, node: ast.AST) -> bool:
    return any(not f for _, f, _ in mode_calls(ctx, node))
