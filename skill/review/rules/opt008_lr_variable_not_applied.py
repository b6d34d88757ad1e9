"""PT-OPT008 lr-variable-not-applied: a learning-rate variable decayed by hand that the optimizer never sees."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import walk_scope
from ._trainloop import OPTIMIZER_CLASSES, role_of_value

LR_NAME_RE = re.compile(r"(^|[._])(lr|learning_rate|base_lr|cur_lr|current_lr)$", re.I)


class LrVariableNotApplied(Rule):
    code = "PT-OPT008"
    name = "lr-variable-not-applied"
    severity = Severity.high
    summary = "The learning-rate variable is decayed after the optimizer was built but never written to `param_groups`"
    why = (
        "The optimizer copies `lr` into `param_groups` when it is built; changing the Python variable afterwards "
        "(`lr *= 0.1`) changes nothing the optimizer reads. The planned decay never happens and the whole run "
        "trains at the initial learning rate, while the logs (which print the variable) show the decay."
    )
    fix_text = "Write it to the optimizer: `for g in optimizer.param_groups: g['lr'] = lr` (or use an LR scheduler)."
    bad = (
        "import torch\n\n"
        "lr = 0.1\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)\n"
        "for epoch in range(90):\n"
        "    if epoch in (30, 60):\n"
        "        lr *= 0.1\n"
        "    train_one_epoch(model, loader, optimizer)\n"
    )
    good = bad.replace(
        "        lr *= 0.1\n",
        "        lr *= 0.1\n        for group in optimizer.param_groups:\n            group['lr'] = lr\n",
    )

    def check(self, ctx: Context):
        if "param_groups" in ctx.source or "set_lr" in ctx.source:
            return
        built = [
            c for c in ctx.calls(*OPTIMIZER_CLASSES)
            if isinstance(kwarg_value(c, "lr"), (ast.Name, ast.Attribute)) and isinstance(ctx.parent(c), ast.Assign)
        ]
        scopes = {id(ctx.enclosing_function(c) or ctx.tree): ctx.enclosing_function(c) or ctx.tree for c in built}
        for scope in scopes.values():
            nodes = sorted(
                (n for n in walk_scope(scope) if isinstance(n, (ast.Assign, ast.AugAssign))),
                key=lambda n: (n.lineno, n.col_offset),
            )
            for a in nodes:
                if not isinstance(a, ast.Assign) or role_of_value(ctx, a.value) != "optimizer":
                    continue
                lr = kwarg_value(a.value, "lr")  # type: ignore[arg-type]
                lr_name = dotted(lr) if lr is not None else None
                opt_name = dotted(a.targets[0])
                if not lr_name or not opt_name or not LR_NAME_RE.search(lr_name):
                    continue
                for b in nodes:
                    if (b.lineno, b.col_offset) <= (a.lineno, a.col_offset):
                        continue
                    targets = [b.target] if isinstance(b, ast.AugAssign) else b.targets
                    if not any(dotted(t) == lr_name for t in targets):
                        continue
                    if not ctx.loops_around(b):
                        continue  # set once before training (e.g. a different phase)
                    if self._reaches_optimizer(ctx, scope, lr_name, opt_name, b):
                        break
                    yield self.report(
                        ctx, b,
                        f"`{lr_name}` changes here but `{opt_name}` was built with its old value (line {a.lineno}) and "
                        "never sees it: the run keeps training at the initial learning rate",
                    )
                    break

    @staticmethod
    def _reaches_optimizer(ctx: Context, scope: ast.AST, lr_name: str, opt_name: str, change: ast.AST) -> bool:
        """After the change, `lr` is passed to a call that also gets the optimizer, or the optimizer is rebuilt."""
        for n in walk_scope(scope):
            if isinstance(n, ast.Assign) and any(dotted(t) == opt_name for t in n.targets):
                if (n.lineno, n.col_offset) > (change.lineno, change.col_offset) or ctx.loops_around(n):  # type: ignore[attr-defined]
                    return True
            if not isinstance(n, ast.Call):
                continue
            args = [*n.args, *(k.value for k in n.keywords)]
            names = {dotted(x) for x in args}
            if lr_name in names and (opt_name in names or callee_name(n) in {"adjust_learning_rate", "set_learning_rate", "update_lr"}):
                return True
            if opt_name in names and callee_name(n) not in {"print", "train", "train_one_epoch", "train_epoch", "step"} and lr_name in ast.unparse(n):
                return True
        return False
