"""PT-IO008 strict-false-result-ignored."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import latest_binding, walk_scope


class StrictFalseResultIgnored(Rule):
    code = "PT-IO008"
    name = "strict-false-result-ignored"
    severity = Severity.medium
    summary = "`load_state_dict(..., strict=False)` whose missing/unexpected keys are never looked at"
    why = (
        "strict=False loads whatever keys happen to match and skips the rest without a word: a renamed "
        "layer, a `module.` prefix or a wrong architecture leaves the model at its random initialisation, "
        "and training or evaluation goes on from there. The return value lists the missing and unexpected "
        "keys; ignoring it hides exactly the mistakes strict=False lets through."
    )
    fix_text = (
        "Keep the result and check it: `missing, unexpected = model.load_state_dict(sd, strict=False)`, then "
        "assert or log that only the keys you expect (e.g. a new head) are missing."
    )
    bad = "model.load_state_dict(torch.load(path, weights_only=True), strict=False)\n"
    good = (
        "result = model.load_state_dict(torch.load(path, weights_only=True), strict=False)\n"
        "assert set(result.missing_keys) <= {'fc.weight', 'fc.bias'}, result\n"
    )

    def check(self, ctx: Context):
        for call in ctx.calls("load_state_dict"):
            if not isinstance(call.func, ast.Attribute):
                continue
            strict = kwarg_value(call, "strict")
            if strict is None and len(call.args) >= 2:
                strict = call.args[1]
            if const_value(strict, default=None) is not False or not call.args or self._in_memory(ctx, call.args[0]):
                continue
            if self._keys_compared(ctx, call) or _own_keys_read(ctx, call):
                continue
            stmt = ctx.statement_of(call)
            if isinstance(stmt, ast.Expr) and stmt.value is call:
                yield self.report(ctx, call, self._message())
            elif isinstance(stmt, ast.Assign) and stmt.value is call and self._unused(ctx, stmt):
                yield self.report(ctx, call, self._message())

    @staticmethod
    def _message() -> str:
        return (
            "`load_state_dict(..., strict=False)` result ignored: keys that did not match are skipped silently and "
            "those layers stay randomly initialised; check `missing_keys`/`unexpected_keys`"
        )

    @staticmethod
    def _unused(ctx: Context, stmt: ast.Assign) -> bool:
        names: set[str] = set()
        for t in stmt.targets:
            if isinstance(t, ast.Name):
                names.add(t.id)
            elif isinstance(t, (ast.Tuple, ast.List)):
                names.update(e.id for e in t.elts if isinstance(e, ast.Name))
            else:
                return False  # stored somewhere (self.load_result = ...)
        names = {n for n in names if n != "_" and not n.startswith("_")}
        if not names:
            return True
        scope = ctx.enclosing_function(stmt) or ctx.tree
        for n in walk_scope(scope):
            if isinstance(n, ast.Name) and n.id in names and isinstance(n.ctx, ast.Load):
                return False
        return True

    @staticmethod
    def _in_memory(ctx: Context, arg: ast.AST) -> bool:
        """`lora.load_state_dict(child.state_dict(), strict=False)`: copying between live modules, where the
        extra keys are known by construction (adapters, heads), not a checkpoint whose contents are unknown."""
        name: str | None = None
        for _ in range(4):
            if isinstance(arg, ast.Call) and callee_name(arg) == "state_dict":
                return True
            if isinstance(arg, ast.Dict):
                if not arg.keys and name is not None:
                    # `cleaned = {}` filled later: by hand (`cleaned["fc.weight"] = w`) or from a checkpoint in a loop
                    return _filled_with_literal_keys(ctx, name, arg)
                return True  # keys written out by hand: the author knows which ones are loaded
            if isinstance(arg, ast.DictComp) and arg.generators:
                it = arg.generators[0].iter  # `{k: v for k, v in sd.items()}`: follow `sd`
                arg = it.func.value if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) else it
                continue
            if isinstance(arg, ast.Call) and arg.args and isinstance(arg.args[0], (ast.Name, ast.Call)) and callee_name(arg) not in {
                "load", "load_file", "load_state_dict_from_url", "load_url", "safe_load",
            }:
                arg = arg.args[0]  # `sd = strip_prefix(sd)`: a transformation of a state dict
                continue
            if isinstance(arg, ast.Name):
                b = latest_binding(ctx, arg.id, arg)
                if b is None or b[1] is None or ctx.is_inside(arg, b[0]):
                    return False
                name = arg.id
                arg = b[1]
                continue
            return False
        return False

    @staticmethod
    def _keys_compared(ctx: Context, call: ast.Call) -> bool:
        """The function compares the keys itself (`missing = set(model.state_dict()) - set(sd)`) before loading."""
        arg = call.args[0] if call.args else None
        if isinstance(arg, ast.Name):
            b = latest_binding(ctx, arg.id, arg)
            value = b[1] if b is not None else None
            # `csd = intersect_dicts(ckpt["model"], model.state_dict())`: matched against the target's own keys
            if isinstance(value, ast.Call) and any(
                isinstance(a, ast.Call) and callee_name(a) == "state_dict" for a in [*value.args, *(k.value for k in value.keywords)]
            ):
                return True
        scope = ctx.enclosing_function(call) or ctx.tree
        for n in walk_scope(scope):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and ("missing" in n.id or "unexpected" in n.id):
                return True
        return False


def _filled_with_literal_keys(ctx: Context, name: str, empty: ast.Dict) -> bool:
    """Every `name[key] = ...` in the dict's scope uses a literal string key."""
    scope = ctx.enclosing_function(empty) or ctx.tree
    stores = [t for n in walk_scope(scope) if isinstance(n, ast.Assign) for t in n.targets
              if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name]
    return bool(stores) and all(isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str) for t in stores)


def _own_keys_read(ctx: Context, call: ast.Call) -> bool:
    """The same function reads the target's own `state_dict()` (to look keys up or shard them): the keys loaded
    are matched against the model's, so the skipped ones are known."""
    recv = call.func.value if isinstance(call.func, ast.Attribute) else None
    name = dotted(recv) if recv is not None else None
    if not name:
        return False
    scope = ctx.enclosing_function(call) or ctx.tree
    return any(isinstance(n, ast.Call) and callee_name(n) == "state_dict" and isinstance(n.func, ast.Attribute)
               and dotted(n.func.value) == name for n in walk_scope(scope))
