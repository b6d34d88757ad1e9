"""What one training-loop iteration does, in order: the facts the PT-OPT003..008 / AMP004 / DATA004/005
rules share (owned by those rules; small on purpose).

* `role(ctx, expr)`: is this object an optimizer, an LR scheduler or a GradScaler (by its construction,
  else by its name)?
* `events(ctx, node)`: backward / step / zero_grad / clip / scaler.step / scaler.update / scheduler.step
  calls run by `node`, in source order, following calls of functions and methods defined in the file
  (a helper's events sit at the position of its call).
* `loader_value(ctx, loop)`: the `DataLoader(...)` (or loader-building call) a `for` loop iterates over.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..semantics import branch_of, last_assignment, local_function, mutually_exclusive, walk_no_defs
from .loss001_softmax_before_cross_entropy import _assigned_values

OPTIMIZER_CLASSES = {
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS", "SparseAdam",
    "ASGD", "Rprop", "Adafactor", "Lion", "LAMB", "Lamb", "FusedAdam", "FusedLAMB", "AdamW8bit", "Adam8bit",
    "ZeroRedundancyOptimizer", "Muon",
}
SCHEDULER_RE = re.compile(r"(LR$|Scheduler$|^get_\w*schedule\w*$|^LambdaLR$|^ReduceLROnPlateau$)")
SCALER_CLASSES = {"GradScaler", "ShardedGradScaler"}
CLIP_CALLS = {"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_gradients"}
BACKWARD_CALLS = {"backward", "manual_backward"}
MAX_INLINE_DEPTH = 3
# a helper imported from a file with none of these cannot hold a training-step event (not parsed for it)
EVENT_WORDS = ("backward", "step(", "zero_grad", "clip_grad", "unscale_", "update(")


def _strip_self(name: str | None) -> str:
    return (name or "").removeprefix("self.")


def value_of(ctx: Context, expr: ast.AST | None, depth: int = 0) -> list[ast.AST]:
    """The values a name/attribute may hold (its assignments: local, `self.x` in the class, the argument
    passed for a parameter, module level), following name-to-name bindings; a call is its own value."""
    if expr is None:
        return []
    if isinstance(expr, ast.Call):
        return [expr]
    name = dotted(expr)
    if not name:
        return []
    try:
        values = list(_assigned_values(ctx, expr, name))
    except RecursionError:  # pragma: no cover - defensive
        return []
    if not values and "." not in name and depth < 3:
        # a parameter of a function called from another file of the tree (`engine.train_one_epoch(..., sched)`)
        foreign = []
        for other, arg in _foreign_arguments(ctx, expr, name):
            foreign.extend(value_of(other, arg, depth + 1) or [arg])
        return foreign
    out: list[ast.AST] = []
    for v in values:
        if isinstance(v, (ast.Name, ast.Attribute)) and depth < 3 and v is not expr:
            out.extend(value_of(ctx, v, depth + 1) or [v])
        else:
            out.append(v)
    return out


def _foreign_arguments(ctx: Context, use: ast.AST, name: str) -> list[tuple[Context, ast.AST]]:
    """(caller's context, argument) for parameter `name` of the function around `use`, at its call sites in
    the OTHER files of the reviewed tree (the in-file ones are `_assigned_values`' business)."""
    proj = ctx.project
    fn = ctx.enclosing_function(use)
    if not proj.paths or fn is None:
        return []
    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
    if name not in params:
        return []
    out = []
    for other, call in proj.callers(ctx, fn):
        if other is ctx:
            continue
        arg = kwarg_value(call, name)
        if arg is None:
            pos = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
            if pos and pos[0] in {"self", "cls"} and isinstance(call.func, ast.Attribute):
                pos = pos[1:]
            if name in pos and not any(isinstance(a, ast.Starred) for a in call.args):
                i = pos.index(name)
                arg = call.args[i] if i < len(call.args) else None
        if arg is None:
            return []  # one caller we cannot follow: the value is unknown
        out.append((other, arg))
    return out


def home_of(ctx: Context, node: ast.AST) -> Context:
    """The context of the file `node` belongs to (a value followed into another file of the tree)."""
    return ctx.project.home(ctx, node) if ctx.project.paths else ctx


def site(ctx: Context, e: Event) -> ast.AST:
    """Where to report event `e` when reviewing `ctx`: the call itself, or the call of the helper that runs it
    when that helper lives in another file of the tree (a finding must point into the reviewed file)."""
    return e.node if e.node is e.anchor or home_of(ctx, e.node) is ctx else e.anchor


def where(ctx: Context, node: ast.AST) -> str:
    """'line 12', or 'main.py line 12' for a node of another file of the tree."""
    import os

    home = home_of(ctx, node)
    line = f"line {getattr(node, 'lineno', '?')}"
    return line if home is ctx else f"{os.path.basename(home.filename)} {line}"


def _constructor(value: ast.AST) -> ast.Call | None:
    """`X(...)` for `X(...)`, `X(...).to(dev)`, `accelerator.prepare(X(...))` is not followed."""
    while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and callee_name(value) in {"to", "cuda"}:
        value = value.func.value
    return value if isinstance(value, ast.Call) else None


def role_of_value(ctx: Context, value: ast.AST) -> str | None:
    call = _constructor(value)
    if call is None:
        return None
    name = callee_name(call) or ""
    q = home_of(ctx, call).call_qualname(call) or ""
    if name in SCALER_CLASSES:
        return "scaler"
    if "lr_scheduler" in q or SCHEDULER_RE.search(name):
        return "scheduler"
    if name in OPTIMIZER_CLASSES or (q.startswith("torch.optim.") and name[:1].isupper()):
        return "optimizer"
    return None


NAME_ROLES = (
    ("scaler", re.compile(r"scaler$", re.I)),
    ("scheduler", re.compile(r"(sched|scheduler|lr_scheduler|lr_sched)$|sched", re.I)),
    ("optimizer", re.compile(r"(^|_)(opt|optim|optimizer|optimiser)(_[a-z0-9]+)?$|optimizer$|_opt$|^opt[A-Z_]", re.I)),
)


def role(ctx: Context, expr: ast.AST | None) -> str | None:
    """'optimizer', 'scheduler', 'scaler' or None for the object `expr` refers to."""
    if expr is None:
        return None
    memo = ctx.__dict__.setdefault("_pp_trainloop_role", {})
    key = id(expr)
    if key in memo:
        return memo[key]
    memo[key] = None
    found = None
    roles = {role_of_value(ctx, v) for v in value_of(ctx, expr)}
    roles.discard(None)
    if len(roles) == 1:
        found = roles.pop()
    elif not roles:
        last = (dotted(expr) or "").rsplit(".", 1)[-1]
        for r, rx in NAME_ROLES:
            if last and rx.search(last):
                found = r
                break
    memo[key] = found
    return found


@dataclass
class Event:
    kind: str  # backward, step, scaler_step, scaler_update, sched_step, zero_grad, clip, unscale
    node: ast.Call  # the call itself (maybe inside a helper)
    anchor: ast.AST  # the node in the inspected function: the call, or the helper call running it
    target: str  # the optimizer / scaler / scheduler / model named (receiver, with `self.` stripped)
    key: tuple  # source order, helpers' events kept in their own order
    via: str = ""  # scaler_step / unscale: the scaler's name
    path: tuple = ()  # the helper calls leading from the inspected function to `node` (outermost first)

    def same_target(self, other: Event) -> bool:
        return bool(self.target) and self.target == other.target


def classify(ctx: Context, call: ast.Call) -> tuple[str, str] | None:
    name = callee_name(call)
    func = call.func
    if name in BACKWARD_CALLS:
        return ("backward", "")
    if name in CLIP_CALLS:
        return ("clip", "")
    if not isinstance(func, ast.Attribute):
        return None
    recv = func.value
    target = _strip_self(dotted(recv))
    if name == "zero_grad":
        return ("zero_grad", target)
    if name == "step":
        r = role(ctx, recv)
        if r == "optimizer":
            return ("step", target)
        if r == "scaler":
            arg = call.args[0] if call.args else kwarg_value(call, "optimizer")
            return ("scaler_step", _strip_self(dotted(arg)) if arg is not None else "")
        if r == "scheduler":
            return ("sched_step", target)
        return None
    if name == "update" and role(ctx, recv) == "scaler":
        return ("scaler_update", target)
    if name == "unscale_" and role(ctx, recv) == "scaler":
        arg = call.args[0] if call.args else None
        return ("unscale", _strip_self(dotted(arg)) if arg is not None else "")
    return None


def events(ctx: Context, node: ast.AST, depth: int = 0, anchor: ast.AST | None = None, prefix: tuple = ()) -> list[Event]:
    """Training-step events run by `node` (a loop, a function), in source order, following local helpers."""
    if depth == 0 and anchor is None:
        memo = ctx.__dict__.setdefault("_pp_trainloop_events", {})
        if id(node) not in memo:
            memo[id(node)] = []
            memo[id(node)] = _events(ctx, node, 0, None, prefix)
        return memo[id(node)]
    return _events(ctx, node, depth, anchor, prefix)


def _events(ctx: Context, node: ast.AST, depth: int, anchor: ast.AST | None, prefix: tuple) -> list[Event]:
    out: list[Event] = []
    body = node.body if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef)) else [node]
    for stmt in body:
        for n in walk_no_defs(stmt):
            if not isinstance(n, ast.Call):
                continue
            key = (*prefix, n.lineno, n.col_offset)
            kind = classify(ctx, n)
            if kind is not None:
                via = _strip_self(dotted(n.func.value)) if kind[0] in {"scaler_step", "unscale"} else ""  # type: ignore[attr-defined]
                out.append(Event(kind[0], n, anchor or n, kind[1], key, via))
                continue
            if depth >= MAX_INLINE_DEPTH:
                continue
            target = local_function(ctx, n, need=EVENT_WORDS)
            if target is None or ctx.is_inside(n, target):
                continue
            mapping = _param_mapping(target, n)
            # a helper of another file is read in its own file's names (its optimizer, its scaler)
            for e in _helper_events(home_of(ctx, target), target, depth + 1, anchor or n, key):
                e.path = (n, *e.path)
                for attr in ("target", "via"):
                    head, _, rest = getattr(e, attr).partition(".")
                    if head in mapping:
                        setattr(e, attr, mapping[head] + ("." + rest if rest else ""))
                out.append(e)
    out.sort(key=lambda e: e.key)
    return out


_NO_ANCHOR = ast.Pass()  # placeholder anchor of a helper's cached events


def _helper_events(ctx: Context, target: ast.AST, depth: int, anchor: ast.AST, prefix: tuple) -> list[Event]:
    """`_events(ctx, target, depth, anchor, prefix)`, the helper's walk done once per (helper, depth) and
    copied for each call site (anchor and source-order prefix set per site)."""
    memo = ctx.__dict__.setdefault("_pp_trainloop_helper_events", {})
    hit = memo.get((id(target), depth))
    if hit is None or hit[0] is not target:
        hit = (target, _events(ctx, target, depth, _NO_ANCHOR, ()))  # the node kept: its id stays unique
        memo[(id(target), depth)] = hit
    return [Event(e.kind, e.node, anchor, e.target, (*prefix, *e.key), e.via, e.path) for e in hit[1]]


def _param_mapping(fn: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call) -> dict[str, str]:
    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    if params and params[0] in {"self", "cls"} and isinstance(call.func, ast.Attribute):
        params = params[1:]
    out = {}
    for p, a in zip(params, call.args):
        if isinstance(a, ast.Starred):
            break
        if dotted(a):
            out[p] = _strip_self(dotted(a))
    for kw in call.keywords:
        if kw.arg and dotted(kw.value):
            out[kw.arg] = _strip_self(dotted(kw.value))
    return out


def training_loops(ctx: Context) -> list[ast.For | ast.AsyncFor | ast.While]:
    """Innermost loops whose iteration (with local helpers) runs a backward: one per backward site."""
    memo = ctx.__dict__.get("_pp_trainloop_loops")
    if memo is not None:
        return memo
    if "backward" not in ctx.source and not ctx.project.may_import(ctx, ("backward",)):
        ctx.__dict__["_pp_trainloop_loops"] = []
        return []  # no backward here nor in a file this one imports from the tree: no training loop
    found: dict[int, ast.AST] = {}
    for loop in ctx.nodes(ast.For, ast.AsyncFor, ast.While):
        evs = events(ctx, loop)
        if not any(e.kind == "backward" for e in evs):
            continue
        # innermost: no loop nested in it also runs a backward
        inner = [
            lp for lp in walk_no_defs(loop)
            if lp is not loop and isinstance(lp, (ast.For, ast.AsyncFor, ast.While))
            and any(e.kind == "backward" for e in events(ctx, lp))
        ]
        if not inner:
            found[id(loop)] = loop
    out = sorted(found.values(), key=lambda n: (n.lineno, n.col_offset))
    ctx.__dict__["_pp_trainloop_loops"] = out
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------- loaders
LOOP_WRAPPERS = {"enumerate", "tqdm", "iter", "zip", "trange", "track", "progress_bar", "islice", "Bar"}


def loop_source(loop: ast.AST) -> ast.AST | None:
    """What a `for` loop iterates over, through `enumerate(...)`, `tqdm(...)`, `iter(...)`."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return None
    it = loop.iter
    for _ in range(4):
        if isinstance(it, ast.Call) and callee_name(it) in LOOP_WRAPPERS and it.args and callee_name(it) != "zip":
            it = it.args[0]
        else:
            break
    return it if isinstance(it, (ast.Name, ast.Attribute)) else None


def loader_constructions(ctx: Context, expr: ast.AST | None, depth: int = 0) -> list[tuple[ast.Call, ast.Call | None]]:
    """(DataLoader(...) call, helper call that built it or None) for each value `expr` may hold.

    An empty list: unknown (not a DataLoader built in this file).
    """
    out: list[tuple[ast.Call, ast.Call | None]] = []
    if expr is None or depth > 3:
        return out
    for v in value_of(ctx, expr):
        if home_of(ctx, v) is not ctx:
            return []  # built in another file: the loader rules report in the file that builds it
        if isinstance(v, (ast.Name, ast.Attribute)) and depth < 3:
            out.extend(loader_constructions(ctx, v, depth + 1))
            continue
        if not isinstance(v, ast.Call):
            return []
        if callee_name(v) == "DataLoader":
            out.append((v, None))
            continue
        fn = local_function(ctx, v)
        if fn is None:
            return []  # accelerator.prepare(...), build_loader from another module: unknown
        rets = [r.value for r in ast.walk(fn) if isinstance(r, ast.Return) and r.value is not None]
        loaders = [r for r in rets if isinstance(r, ast.Call) and callee_name(r) == "DataLoader"]
        if not loaders or len(loaders) != len(rets):
            named = [r for r in rets if isinstance(r, ast.Name)]
            loaders += [
                val for r in named
                if isinstance(val := last_assignment(ctx, r.id, r), ast.Call) and callee_name(val) == "DataLoader"
            ]
            if len(loaders) != len(rets):
                return []
        out.extend((ld, v) for ld in loaders)
    return out


def loader_option(ctx: Context, loader: ast.Call, helper: ast.Call | None, option: str, position: int) -> object:
    """The constant value of a DataLoader option (True/False/None when absent), following a helper's
    parameter to its call site (or default); `...` when it is not a constant."""
    value = kwarg_value(loader, option)
    if value is None and len(loader.args) > position and not any(isinstance(a, ast.Starred) for a in loader.args[: position + 1]):
        value = loader.args[position]
    if value is None:
        if any(kw.arg is None for kw in loader.keywords):
            return ...
        return None
    if isinstance(value, ast.Name) and helper is not None:
        fn = local_function(ctx, helper)
        if fn is not None:
            params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
            if params and params[0] in {"self", "cls"} and isinstance(helper.func, ast.Attribute):
                params = params[1:]
            passed = kwarg_value(helper, value.id)
            if passed is None and value.id in params:
                i = params.index(value.id)
                if i < len(helper.args) and not any(isinstance(a, ast.Starred) for a in helper.args[: i + 1]):
                    passed = helper.args[i]
            if passed is None:
                defaults = dict(zip(reversed([a.arg for a in fn.args.args]), reversed(fn.args.defaults)))
                defaults.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if d is not None})
                if value.id in defaults:
                    passed = defaults[value.id]
                elif any(kw.arg is None for kw in helper.keywords):
                    return ...
            if passed is not None:
                value = passed
    if isinstance(value, ast.Name):
        resolved = last_assignment(ctx, value.id, value)
        if isinstance(resolved, ast.Constant):
            value = resolved
    v = const_value(value)
    return v if v is None or isinstance(v, bool) else ...


def branch_chain(ctx: Context, node: ast.AST, loop: ast.AST) -> list[int]:
    """ids of the if/try branches around `node` inside `loop` (innermost first)."""
    out = []
    for n, label in branch_of(ctx, node):
        if not ctx.is_inside(n, loop):
            break
        out.append(hash((id(n), label)))
    return out


def nested_chains(ctx: Context, a: ast.AST, b: ast.AST, loop: ast.AST) -> bool:
    """Both run on the same iterations or one's condition includes the other's (unconditional + conditional)."""
    ca, cb = set(branch_chain(ctx, a, loop)), set(branch_chain(ctx, b, loop))
    return ca <= cb or cb <= ca


def exclusive(ctx: Context, a: Event, b: Event) -> bool:
    """Can `a` and `b` not both run in one iteration? (Events of one helper call compare their own nodes.)"""
    if mutually_exclusive(ctx, a.anchor, b.anchor):
        return True
    if a.anchor is not b.anchor:
        return False
    # the same helper call: compare where the two call chains part (`if fp16: self.opt_fp16() else: self.opt()`)
    for x, y in zip((*a.path, a.node), (*b.path, b.node)):
        if x is not y:
            return mutually_exclusive(ctx, x, y)
    return False


def same_conditions(ctx: Context, a: Event, b: Event, loop: ast.AST) -> bool:
    """`nested_chains` for events, inside the helper when both come from the same helper call."""
    if a.anchor is b.anchor and a.anchor is not a.node:
        fn = ctx.enclosing_function(a.node)
        if fn is not None and fn is ctx.enclosing_function(b.node):
            return nested_chains(ctx, a.node, b.node, fn)
    return nested_chains(ctx, a.anchor, b.anchor, loop)
