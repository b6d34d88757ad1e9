"""PT-MEM003 hidden-state-not-detached."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, target_names
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls, in_no_grad, is_model_expr

STATE_NAME_RE = re.compile(r"^(h|c|hx|cx|hn|cn|h0|c0|h_t|c_t|ht|ct|hc|hidden|hiddens|state|states|carry|rnn_state|lstm_state)$"
                           r"|hidden|_state$|^state_|_h$|_c$", re.I)
RECURRENT_RE = re.compile(r"(rnn|lstm|gru|model|net|cell|encoder|decoder|lm|recurrent)", re.I)


class HiddenStateNotDetached(Rule):
    code = "PT-MEM003"
    name = "hidden-state-not-detached"
    severity = Severity.high
    summary = "Recurrent hidden state carried from one batch to the next without `.detach()`"
    why = (
        "The hidden state returned by the RNN still points at the graph of the batch that produced it; "
        "feeding it into the next batch chains the graphs, so backward either fails ('Trying to backward "
        "through the graph a second time') or, with retain_graph=True, backpropagates through every batch "
        "seen so far: memory and step time grow until the run dies (truncated BPTT needs a detach)."
    )
    fix_text = (
        "Detach at the start of each batch: `hidden = hidden.detach()` (for LSTMs "
        "`hidden = tuple(h.detach() for h in hidden)`), or re-initialise it per batch."
    )
    bad = (
        "hidden = model.init_hidden(batch_size)\nfor x, y in batches:\n    optimizer.zero_grad()\n"
        "    output, hidden = model(x, hidden)\n    loss = criterion(output, y)\n    loss.backward()\n    optimizer.step()\n"
    )
    good = (
        "hidden = model.init_hidden(batch_size)\nfor x, y in batches:\n    hidden = hidden.detach()\n"
        "    optimizer.zero_grad()\n    output, hidden = model(x, hidden)\n    loss = criterion(output, y)\n"
        "    loss.backward()\n    optimizer.step()\n"
    )

    def check(self, ctx: Context):
        backs = backward_calls(ctx)
        if not backs:
            return
        for stmt in ctx.nodes(ast.Assign):
            call = stmt.value  # type: ignore[union-attr]
            if not isinstance(call, ast.Call) or not self._recurrent_call(ctx, call):
                continue
            targets = {n for t in stmt.targets for n in _bound_names(t)}  # type: ignore[union-attr]
            carried = {n for n in targets & {n for a in call.args for n in self._arg_names(a)}
                       if STATE_NAME_RE.search(n.rsplit(".", 1)[-1])}
            if not carried:
                continue
            loop = self._step_loop(ctx, stmt, backs)
            if loop is None or in_no_grad(ctx, stmt):
                continue
            for name in sorted(carried):
                if self._reset_in_loop(ctx, name, loop, stmt) or not self._bound_before(ctx, name, loop):
                    continue
                yield self.report_at(
                    ctx, stmt.lineno, stmt.col_offset,
                    f"`{name}` is fed back into the next batch without `.detach()`: each backward reaches into the "
                    "previous batches' graphs (errors, or memory and time that grow every step)",
                )
                break

    @staticmethod
    def _recurrent_call(ctx: Context, call: ast.Call) -> bool:
        name = dotted(call.func) or ""
        if not name or name.split(".")[0] in ctx.imports:
            return False
        return is_model_expr(ctx, call.func) or bool(RECURRENT_RE.search(name.rsplit(".", 1)[-1]))

    @staticmethod
    def _arg_names(arg: ast.AST) -> list[str]:
        if isinstance(arg, ast.Name):
            return [arg.id]
        if _self_attr(arg):
            return [dotted(arg)]  # type: ignore[list-item]
        if isinstance(arg, ast.Tuple):
            return [e.id if isinstance(e, ast.Name) else dotted(e) for e in arg.elts if isinstance(e, ast.Name) or _self_attr(e)]  # type: ignore[misc]
        return []

    @staticmethod
    def _step_loop(ctx: Context, stmt: ast.AST, backs: list[ast.Call]) -> ast.AST | None:
        """The innermost enclosing loop that also runs backward (the batch loop)."""
        for loop in ctx.loops_around(stmt):
            if any(ctx.is_inside(b, loop) for b in backs):
                return loop
        return None

    @staticmethod
    def _reset_in_loop(ctx: Context, name: str, loop: ast.AST, stmt: ast.AST) -> bool:
        """Rebound (detached, re-initialised, repackaged) or detached in place somewhere in the loop."""
        for n in ast.walk(loop):
            if n is stmt:
                continue
            if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                if any(name in _bound_names(t) for t in targets) and not (
                    isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                    and HiddenStateNotDetached._recurrent_call(ctx, n.value) and _feeds_back(n, name)
                ):
                    return True
            if isinstance(n, ast.Call) and callee_name(n) in {"detach_", "zero_"} and isinstance(n.func, ast.Attribute):
                if name in {x.id for x in ast.walk(n.func.value) if isinstance(x, ast.Name)} or dotted(n.func.value) == name:
                    return True
            if isinstance(n, (ast.For, ast.comprehension)) and name in target_names(n.target):
                return True
        return False

    @staticmethod
    def _bound_before(ctx: Context, name: str, loop: ast.AST) -> bool:
        """`name` has a value when the loop starts (bound above it in the same function, or a parameter)."""
        fn = ctx.enclosing_function(loop)
        scope_body = fn if fn is not None else ctx.tree
        if name.startswith("self."):
            # a trainer's `self.state`: set in __init__ (or any other method) and carried from batch to batch
            cls = next((a for a in ctx.ancestors(loop) if isinstance(a, ast.ClassDef)), None)
            return cls is not None and any(
                isinstance(n, (ast.Assign, ast.AnnAssign)) and not ctx.is_inside(n, loop)
                and any(name in _bound_names(t) for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))
                for n in ast.walk(cls)
            )
        for n in ast.walk(scope_body):
            if isinstance(n, (ast.Assign, ast.AnnAssign)) and not ctx.is_inside(n, loop) and n.lineno < loop.lineno:  # type: ignore[attr-defined]
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                if any(name in target_names(t) for t in targets):
                    return True
        if fn is not None and any(a.arg == name for a in fn.args.args + fn.args.kwonlyargs):
            return True
        return False


def _self_attr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _bound_names(target: ast.AST) -> set[str]:
    """Names a target binds, plus `self.x` attributes (`out, self.state = self.rnn(x, self.state)`)."""
    out = set(target_names(target))
    for e in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
        if _self_attr(e):
            out.add(dotted(e))  # type: ignore[arg-type]
    return out


def _feeds_back(stmt: ast.Assign, name: str) -> bool:
    """Another `out, h = rnn(x, h)` in the same loop (a second layer/step) is not a reset."""
    call = stmt.value
    return isinstance(call, ast.Call) and any(
        isinstance(a, ast.Name) and a.id == name or dotted(a) == name
        or isinstance(a, ast.Tuple) and any(isinstance(e, ast.Name) and e.id == name or dotted(e) == name for e in a.elts)
        for a in call.args
    )
