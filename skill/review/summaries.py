"""Function summaries: what calling a function does to the training state, followed through its callees.

`ctx.project.summary(fn)` gives one `FunctionSummary` per function (computed once, cached by the
project). Its `events` are in execution order; an effect of a callee is placed at the call:

    Event(pos, kind, recv)   kind is one of
        "eval" / "train"  recv's mode switched (`model.eval()`, `model.train(False)`, `self.model.eval()`)
        "zero_grad"       recv's gradients cleared (`opt.zero_grad()`, `model.zero_grad()`);
                          recv "*" for a hand-written clear (`p.grad = None`, `p.grad.zero_()`)
        "step"            optimizer recv stepped (`opt.step()`, `scaler.step(opt)` -> "opt")
        "backward"        a backward pass (`loss.backward()`, `accelerator.backward(loss)`); recv: the loss
        "seed"            an RNG seeded; recv "torch" / "numpy" / "random" / "cuda" / "all"
        "to_device"       recv moved (`x.to(device)`, `x.cuda()`)
        "train_flag"      `recv.train(flag)` with `flag` a parameter (Event.arg); becomes "train"/"eval"
                          when a caller passes a literal (`set_mode(model, False)`)

Receivers are dotted names in the function's own namespace: parameters (`model`), attributes of
`self` (`self.model`) or globals. `summary.mapped({"model": "net"})` renames them for a caller;
`project.effects_at(ctx, call)` does that for one call site. Properties: `sets_mode` ([(recv, is_train)]),
`zeroes`, `steps`, `calls_backward`, `seeds`, `moves`, `disables_grad` (decorator or whole body under
`no_grad`/`inference_mode`/`set_grad_enabled(False)`), and `returns_graph()` (returns a tensor still
attached to the autograd graph).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .analysis import Context, callee_name, dotted

MAX_DEPTH = 4
# a callee imported from a file with none of these has no event of a summary (not parsed for it)
SUMMARY_WORDS = ("train(", "eval(", "zero_grad", ".grad", "step(", "backward", "seed", ".to(", ".cuda(")
SEED_CALLS = {
    "manual_seed": "torch", "manual_seed_all": "cuda", "seed": "random", "seed_everything": "all",
    "set_seed": "all",
}


@dataclass(frozen=True, slots=True)
class Event:
    pos: tuple[int, int]
    kind: str
    recv: str
    arg: str = ""  # for "train_flag": the parameter that holds the mode (`model.train(training)`)


@dataclass(slots=True)
class FunctionSummary:
    fn: ast.AST
    params: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    disables_grad: bool = False
    _ctx: Context | None = None
    defaults: dict[str, str] = field(default_factory=dict)  # flag parameter -> 'True'/'False' default

    @classmethod
    def empty(cls, fn: ast.AST) -> FunctionSummary:
        return cls(fn)

    # ---------------------------------------------------------------- questions
    @property
    def sets_mode(self) -> list[tuple[str, bool]]:
        return [(e.recv, e.kind == "train") for e in self.events if e.kind in ("eval", "train")]

    @property
    def zeroes(self) -> set[str]:
        return {e.recv for e in self.events if e.kind == "zero_grad"}

    @property
    def steps(self) -> set[str]:
        return {e.recv for e in self.events if e.kind == "step"}

    @property
    def calls_backward(self) -> bool:
        return any(e.kind == "backward" for e in self.events)

    @property
    def seeds(self) -> set[str]:
        return {e.recv for e in self.events if e.kind == "seed"}

    @property
    def moves(self) -> set[str]:
        return {e.recv for e in self.events if e.kind == "to_device"}

    def last_mode(self, recv: str | None = None) -> bool | None:
        """The mode the function leaves `recv` in (True: train, False: eval), None if it never switches it.
        Without `recv`: the last switch of anything."""
        last = None
        for r, is_train in self.sets_mode:
            if recv is None or _same(r, recv):
                last = is_train
        return last

    def returns_graph(self, depth: int = 0) -> bool:
        """Does the function return a tensor attached to the autograd graph (its loss, a model output)?"""
        from .dataflow import is_graph_attached

        if self._ctx is None or not isinstance(self.fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        from .scopes import walk_no_defs

        for n in walk_no_defs(self.fn):
            if isinstance(n, ast.Return) and n.value is not None:
                if is_graph_attached(self._ctx, n.value, self.fn, n, depth):
                    return True
        return False

    def mapped(self, binding: dict[str, str], pos: tuple[int, int] | None = None) -> FunctionSummary:
        """The same summary with receivers renamed by `binding` (param -> caller's name), events at `pos`."""
        events = []
        for e in self.events:
            head, sep, rest = e.recv.partition(".")
            recv = binding[head] + sep + rest if head in binding else e.recv
            kind, arg = e.kind, e.arg
            if kind == "train_flag":
                literal = binding.get("=" + arg)
                if literal is None and arg not in binding and "=*" not in binding:
                    literal = self.defaults.get(arg)  # not passed: the parameter's default decides
                if literal in ("True", "False"):
                    kind, arg = ("train" if literal == "True" else "eval"), ""
                elif arg in binding:
                    arg = binding[arg]
            events.append(Event(pos or e.pos, kind, recv, arg))
        return FunctionSummary(self.fn, self.params, events, self.disables_grad, self._ctx, self.defaults)


def _same(a: str, b: str) -> bool:
    return a == b or a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1]


def summarize(project, ctx: Context, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionSummary:
    from .dataflow import is_optimizer_name
    from .gradmode import has_grad_disabling_decorator, is_grad_disabling_with_item
    from .loops import sets_training_flag
    from .scopes import walk_no_defs

    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
    events: list[Event] = []
    optimizers = _optimizer_names(ctx, fn)
    for n in walk_no_defs(fn):
        pos = (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))
        if isinstance(n, ast.Call):
            name = callee_name(n) or ""
            recv = dotted(n.func.value) if isinstance(n.func, ast.Attribute) else None
            if name == "train" and recv:
                flag_arg = n.args[0] if len(n.args) == 1 else next(
                    (k.value for k in n.keywords if k.arg == "mode"), None) if not n.args else None
                if isinstance(flag_arg, ast.Name) and flag_arg.id in params:
                    events.append(Event(pos, "train_flag", recv, flag_arg.id))
                    continue
            flag = sets_training_flag(n)
            if flag is not None:
                events.append(Event(pos, "train" if flag else "eval", recv or ""))
                continue
            if name == "zero_grad" and recv:
                events.append(Event(pos, "zero_grad", recv))
                continue
            if name in {"zero_", "fill_"} and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Attribute) \
                    and n.func.value.attr == "grad":
                events.append(Event(pos, "zero_grad", "*"))
                continue
            if name == "step" and recv:
                if "scaler" in recv.lower() and n.args:
                    events.append(Event(pos, "step", dotted(n.args[0]) or "?"))
                elif recv in optimizers or is_optimizer_name(recv):
                    events.append(Event(pos, "step", recv))
                continue
            if name == "backward":
                events.append(Event(pos, "backward", (recv or (dotted(n.args[0]) if n.args else "")) or ""))
                continue
            if name in SEED_CALLS:
                q = ctx.call_qualname(n) or ""
                kind = "numpy" if "numpy" in q or q.startswith("np.") else SEED_CALLS[name]
                if name != "seed" or q.startswith(("random.", "numpy.", "np.")):
                    events.append(Event(pos, "seed", kind))
                continue
            if name in {"to", "cuda"} and recv:
                events.append(Event(pos, "to_device", recv))
            if _depth(project) < MAX_DEPTH:
                t = project.resolve_call(ctx, n, need=SUMMARY_WORDS)
                if t is not None and t.fn is not fn:
                    from .project import bind_arguments

                    project._depth = _depth(project) + 1
                    try:
                        sub = project.summary(t.fn, t.ctx)
                    finally:
                        project._depth = _depth(project) - 1
                    events.extend(sub.mapped(bind_arguments(t, n), pos).events)
        elif isinstance(n, (ast.Assign, ast.Delete)):
            if any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in n.targets):
                events.append(Event(pos, "zero_grad", "*"))
    events.sort(key=lambda e: e.pos)
    disables = has_grad_disabling_decorator(ctx, fn)
    if not disables:
        body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        disables = bool(body) and all(
            isinstance(s, (ast.With, ast.AsyncWith)) and any(is_grad_disabling_with_item(ctx, it) for it in s.items)
            for s in body if not isinstance(s, (ast.Return, ast.Assign))
        ) and any(isinstance(s, (ast.With, ast.AsyncWith)) for s in body)
    return FunctionSummary(fn, params, events, disables, ctx, _bool_defaults(fn))


def _bool_defaults(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """Parameters with a literal True/False default (`train=True`): the mode when a caller omits them."""
    out: dict[str, str] = {}
    pos = [*fn.args.posonlyargs, *fn.args.args]
    for a, d in zip(pos[len(pos) - len(fn.args.defaults):], fn.args.defaults):
        if isinstance(d, ast.Constant) and isinstance(d.value, bool):
            out[a.arg] = str(d.value)
    for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults):
        if isinstance(d, ast.Constant) and isinstance(d.value, bool):
            out[a.arg] = str(d.value)
    return out


def _depth(project) -> int:
    return getattr(project, "_depth", 0)


def _optimizer_names(ctx: Context, fn: ast.AST) -> set[str]:
    """Names bound to `torch.optim.X(...)` in the function or the module (any spelling: `sgd = SGD(...)`)."""
    cached = ctx.__dict__.get("_pp_optimizer_names")
    if cached is not None:
        return cached
    out: set[str] = set()
    for node in ctx.nodes(ast.Assign):
        value = node.value  # type: ignore[attr-defined]
        if isinstance(value, ast.Call):
            q = ctx.call_qualname(value) or ""
            if q.startswith("torch.optim.") and "lr_scheduler" not in q:
                out.update(d for t in node.targets for d in [dotted(t)] if d)  # type: ignore[attr-defined]
    ctx.__dict__["_pp_optimizer_names"] = out
    return out
