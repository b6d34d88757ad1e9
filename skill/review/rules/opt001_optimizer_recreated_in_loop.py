"""PT-OPT001 optimizer-recreated-in-loop."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, kwarg_value, target_names
from ..models import Severity
from ..rule import Rule

OPTIMIZER_CLASSES = {
    "SGD", "Adam", "AdamW", "Adamax", "Adagrad", "Adadelta", "RMSprop", "Rprop", "ASGD", "NAdam", "RAdam",
    "LBFGS", "SparseAdam", "Adafactor", "Lion", "FusedAdam", "FusedLAMB", "LAMB", "Lamb", "AdamW8bit", "Adam8bit",
}
# Calls on the model that reset it in the loop: a new optimizer is then deliberate.
RESETS = {"load_state_dict", "reset_parameters", "apply", "init_weights"}


OPTIMIZER_FACTORY_RE = re.compile(r"^(get|make|build|create|configure|init|setup)_?(an_)?optim(izer|iser)?s?$", re.IGNORECASE)


def optimizer_constructions(ctx: Context, factories: bool = False) -> list[ast.Call]:
    """Optimizer class calls (torch.optim.X, bitsandbytes/apex optimizers); with `factories`, also
    helpers named like `build_optimizer(model, cfg)`."""
    out = []
    if factories:
        out.extend(c for name, calls in ctx.calls_by_name.items() if OPTIMIZER_FACTORY_RE.match(name) for c in calls)
    for call in ctx.calls(*OPTIMIZER_CLASSES):
        q = ctx.call_qualname(call) or ""
        if ".lr_scheduler." in q or "swa_utils" in q:
            continue
        if isinstance(call.func, ast.Attribute) and not q.startswith(("torch.optim", "optim.")):
            head = dotted(call.func.value) or ""
            if not head.endswith(("optim", "optimizers", "bnb", "bitsandbytes", "transformers")):
                continue
        out.append(call)
    return out


def param_roots(call: ast.Call) -> set[str]:
    """Names the optimizer's parameters come from: `model` in `model.parameters()`, `params` in `[x, params]`."""
    args = [*call.args[:1]]
    params_kw = kwarg_value(call, "params")
    if params_kw is not None:
        args.append(params_kw)
    if OPTIMIZER_FACTORY_RE.match(callee_name(call) or ""):
        args = [*call.args, *(k.value for k in call.keywords)]  # build_optimizer(cfg, model)
    out: set[str] = set()
    for arg in args:
        bound = {n.id for n in ast.walk(arg) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for n in ast.walk(arg):
            if isinstance(n, ast.Name) and n.id not in bound:
                out.add(n.id)
            elif isinstance(n, ast.Attribute):
                name = dotted(n)
                if name:
                    out.add(name)
    return out


class OptimizerRecreatedInLoop(Rule):
    code = "PT-OPT001"
    name = "optimizer-recreated-in-loop"
    severity = Severity.high
    summary = "Optimizer constructed inside the training loop for a model that persists across iterations"
    why = (
        "Building the optimizer again throws away its state: momentum buffers, Adam's moment estimates "
        "and step counts restart every epoch/batch, so the optimizer behaves like plain SGD with a "
        "warm-up that never ends; any LR scheduler attached to the old optimizer stops working too."
    )
    fix_text = "Construct the optimizer once, after moving the model to its device and before the loop."
    bad = (
        "import torch\n\n"
        "for epoch in range(10):\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n"
        "        optimizer.step()\n"
    )
    good = (
        "import torch\n\ntorch.manual_seed(0)\n"
        "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "for epoch in range(10):\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n"
        "        optimizer.step()\n"
    )

    def check(self, ctx: Context):
        for call in optimizer_constructions(ctx, factories=True):
            loops = ctx.loops_around(call)
            if not loops:
                continue
            loop = loops[0]
            if self._guarded(ctx, call, loop) or not self._trains(ctx, call, loop):
                continue
            roots = param_roots(call)
            if not roots or self._rebuilt_in_loop(ctx, loop, roots):
                continue
            yield self.report(ctx, call)

    @staticmethod
    def _guarded(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """Under an if/try inside the loop (rebuild on unfreezing, lazy creation) -> deliberate."""
        for anc in ctx.ancestors(call):
            if anc is loop:
                return False
            if isinstance(anc, (ast.If, ast.IfExp, ast.Try, ast.FunctionDef, ast.Lambda)):
                return True
        return False

    @staticmethod
    def _trains(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """The loop trains with it: backward()/step() in the loop, or the optimizer passed to a call."""
        for node in ast.walk(loop):
            if isinstance(node, ast.Call) and callee_name(node) in {"backward", "step"}:
                return True
        stmt = ctx.statement_of(call)
        names = set()
        if isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                names.update(target_names(t))
                if isinstance(t, ast.Attribute):
                    names.add(dotted(t) or "")
        if not names:
            return False
        for node in ast.walk(loop):
            if isinstance(node, ast.Call) and node is not call:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    if dotted(arg) in names:
                        return True
        return False

    @staticmethod
    def _rebuilt_in_loop(ctx: Context, loop: ast.AST, roots: set[str]) -> bool:
        """Is the model (or the parameter list) bound or reset inside the loop (k-fold, trials, meta-learning)?"""
        heads = {r.split(".")[0] for r in roots if not r.startswith("self.")} | {r for r in roots if r.startswith("self.")}
        for node in ast.walk(loop):
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Store):
                name = dotted(node)
                if name in roots or name in heads:
                    return True
            elif isinstance(node, ast.Call) and callee_name(node) in RESETS and isinstance(node.func, ast.Attribute):
                name = dotted(node.func.value) or ""
                if name in roots or name.split(".")[0] in heads:
                    return True
        return False
