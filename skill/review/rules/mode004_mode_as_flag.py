"""PT-MODE004 mode-as-flag: evaluation through a `train=False` flag that never switches the model to eval mode."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import mode_calls, walk_no_defs
from .loss001_softmax_before_cross_entropy import _assigned_values

FLAG_RE = re.compile(r"^(train|training|is_train|is_training|train_mode|training_mode|do_train|backprop|update|optimize)$")
STOCHASTIC_RE = re.compile(r"(Dropout|BatchNorm|dropout|batch_norm|SyncBatchNorm|DropPath|drop_path|StochasticDepth)")


class ModeAsFlag(Rule):
    code = "PT-MODE004"
    name = "mode-as-flag"
    severity = Severity.high
    summary = "Evaluation runs through a `train=False` flag, but the function never puts the model in eval mode"
    why = (
        "A shared `run_epoch(model, loader, train=False)` that only uses the flag for `torch.set_grad_enabled` or "
        "to skip `backward()` leaves the model in training mode: dropout keeps dropping units and BatchNorm "
        "normalises with batch statistics (and updates its running averages on the validation data), so the "
        "reported metrics are noisy, pessimistic and depend on the batch size."
    )
    fix_text = "Set the mode from the flag at the top of the function: `model.train(train)` (or `model.train() if train else model.eval()`)."
    bad = (
        "import torch\n\n"
        "torch.manual_seed(0)\n\n\n"
        "def run_epoch(model, loader, optimizer, train=True):\n"
        "    total = 0.0\n"
        "    with torch.set_grad_enabled(train):\n"
        "        for x, y in loader:\n"
        "            loss = criterion(model(x), y)\n"
        "            if train:\n"
        "                optimizer.zero_grad()\n"
        "                loss.backward()\n"
        "                optimizer.step()\n"
        "            total += loss.item()\n"
        "    return total / len(loader)\n\n"
        "for epoch in range(10):\n"
        "    run_epoch(model, train_loader, optimizer, train=True)\n"
        "    val_loss = run_epoch(model, val_loader, optimizer, train=False)\n"
    )
    good = bad.replace("    total = 0.0\n", "    model.train(train)\n    total = 0.0\n", 1)

    def check(self, ctx: Context):
        for fn in ctx.nodes(ast.FunctionDef, ast.AsyncFunctionDef):
            flag = self._grad_only_flag(ctx, fn)
            if flag is None:
                continue
            sites = [s for s in ctx.calls(fn.name) if not ctx.is_inside(s, fn)]  # type: ignore[attr-defined]
            yield from self._check_sites(ctx, fn, flag, sites)
        # an epoch function imported from another file of the reviewed tree (`from .engine import run_epoch`)
        proj = ctx.project
        if not proj.paths:
            return
        by_fn: dict[int, tuple] = {}
        for name, q in ctx.imports.items():
            if name in ctx.functions_by_name:
                continue
            for site in ctx.calls(name):
                if not any(const_value(a) is False for a in (*site.args, *(k.value for k in site.keywords))):
                    continue
                t = proj.resolve_call(ctx, site)
                if t is None or t.ctx is ctx:
                    continue
                by_fn.setdefault(id(t.fn), (t, []))[1].append(site)
        for t, sites in by_fn.values():
            flag = self._grad_only_flag(t.ctx, t.fn)
            if flag is not None:
                yield from self._check_sites(ctx, t.fn, flag, sites)

    def _grad_only_flag(self, ctx: Context, fn: ast.AST) -> str | None:
        """The mode flag of `fn` when it only changes grad mode/bookkeeping with it, else None."""
        params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]  # type: ignore[attr-defined]
        flags = [p for p in params if FLAG_RE.match(p)]
        if not flags:
            return None
        return flags[0] if self._grad_only(ctx, fn, flags[0], 0) else None

    def _grad_only(self, ctx: Context, fn: ast.AST, flag: str, depth: int) -> bool:
        """`flag` only changes grad mode or skips the update in `fn`, directly or in the helpers it hands the flag
        to (`_run_epoch(loader, train)` -> `_run_batch(x, y, train)`), and nothing `fn` runs switches a mode."""
        from ..project import bind_arguments

        if mode_calls(ctx, fn):
            return False  # the function sets a mode itself (or through a helper)
        controls = self._flag_controls_grad(fn, flag)
        for n in walk_no_defs(fn):
            if not isinstance(n, ast.Call) or callee_name(n) in {"set_grad_enabled", "print", "log", "info", "format"}:
                continue
            if not any(isinstance(a, ast.Name) and a.id == flag for a in (*n.args, *(k.value for k in n.keywords))):
                continue
            t = ctx.project.resolve_call(ctx, n) if depth < 3 else None
            if t is None:
                return False  # handed to code we cannot see (e.g. `set_mode(model, train)` from a library)
            binding = bind_arguments(t, n)
            inner = next((p for p, v in binding.items() if v == flag and not p.startswith("=")), None)
            if inner is None or not self._grad_only(t.ctx, t.fn, inner, depth + 1):
                return False
            controls = True
        return controls

    def _check_sites(self, ctx: Context, fn: ast.AST, flag: str, sites):
        for site in sites:
            if not self._passes_false(fn, site, flag):
                continue
            if self._caller_sets_eval(ctx, site):
                continue
            model = self._model_arg(fn, site)
            if model is not None and not self._may_be_stochastic(ctx, model, site):
                continue
            yield self.report(
                ctx, site,
                f"`{fn.name}(..., {flag}=False)` evaluates with the model still in training mode: `{fn.name}` "  # type: ignore[attr-defined]
                "only changes grad mode with the flag, so dropout and BatchNorm behave as in training",
            )

    @staticmethod
    def _flag_controls_grad(fn: ast.AST, flag: str) -> bool:
        """`torch.set_grad_enabled(flag)`, or `if flag:` guarding a backward/step."""
        for n in walk_no_defs(fn):
            if isinstance(n, ast.Call) and callee_name(n) == "set_grad_enabled" and n.args and isinstance(n.args[0], ast.Name) and n.args[0].id == flag:
                return True
            if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == flag:
                for m in walk_no_defs(n):
                    if isinstance(m, ast.Call) and callee_name(m) in {"backward", "step"}:
                        return True
        return False

    @staticmethod
    def _param_index(fn: ast.AST, name: str, site: ast.Call) -> int | None:
        params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]  # type: ignore[attr-defined]
        if params and params[0] in {"self", "cls"} and isinstance(site.func, ast.Attribute):
            params = params[1:]
        return params.index(name) if name in params else None

    def _passes_false(self, fn: ast.AST, site: ast.Call, flag: str) -> bool:
        value = kwarg_value(site, flag)
        if value is None:
            i = self._param_index(fn, flag, site)
            if i is not None and i < len(site.args) and not any(isinstance(a, ast.Starred) for a in site.args[: i + 1]):
                value = site.args[i]
        return value is not None and const_value(value) is False

    @staticmethod
    def _caller_sets_eval(ctx: Context, site: ast.Call) -> bool:
        scope = ctx.enclosing_function(site) or ctx.tree
        pos = (site.lineno, site.col_offset)
        before = [m for m in mode_calls(ctx, scope) if m[0] < pos]
        return bool(before) and not before[-1][1]

    def _model_arg(self, fn: ast.AST, site: ast.Call) -> ast.AST | None:
        for name in ("model", "net", "network", "module"):
            v = kwarg_value(site, name)
            if v is None:
                i = self._param_index(fn, name, site)
                if i is not None and i < len(site.args):
                    v = site.args[i]
            if v is not None:
                return v
        return None

    @staticmethod
    def _may_be_stochastic(ctx: Context, model: ast.AST, site: ast.Call) -> bool:
        """False only when the model is built in this file from classes with no dropout/norm layers."""
        name = dotted(model)
        if not name:
            return True
        values = _assigned_values(ctx, site, name)
        if not values:
            return True
        for v in values:
            while isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and callee_name(v) in {"to", "cuda", "float"}:
                v = v.func.value
            if not isinstance(v, ast.Call):
                return True
            text = ast.unparse(v)
            if STOCHASTIC_RE.search(text):
                return True
            cls = ctx.classes_by_name.get(callee_name(v) or "")
            if cls is None and callee_name(v) != "Sequential":
                return True
            if cls is not None and STOCHASTIC_RE.search(ast.unparse(cls)):
                return True
        return False
