"""PT-OPT002 scheduler-before-optimizer."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, receiver
from ..models import Severity
from ..rule import Rule
from ..semantics import before, mutually_exclusive
from .opt001_optimizer_recreated_in_loop import optimizer_constructions

SCHEDULER_RE = re.compile(r"sched", re.IGNORECASE)
OPTIMIZER_RE = re.compile(r"(^|_|\.)(opt|optim|optimizer|optimiser)[A-Za-z0-9_]*$|optimizer", re.IGNORECASE)
PLATEAU = "ReduceLROnPlateau"
TRAIN_CALL_RE = re.compile(r"train|fit|epoch|run|step", re.IGNORECASE)
WARMUP_WORDS = re.compile(r"epoch|step|iter|warm", re.IGNORECASE)


def _assigned_from(ctx: Context) -> dict[str, str]:
    """dotted target -> qualified callee of the call assigned to it (`scheduler` -> '...StepLR')."""
    out: dict[str, str] = {}
    for node in ctx.nodes(ast.Assign):
        value = node.value  # type: ignore[union-attr]
        if isinstance(value, ast.Call):
            q = ctx.call_qualname(value) or callee_name(value) or ""
            for t in node.targets:  # type: ignore[union-attr]
                name = dotted(t)
                if name:
                    out[name] = q
    return out


class SchedulerBeforeOptimizer(Rule):
    code = "PT-OPT002"
    name = "scheduler-before-optimizer"
    severity = Severity.medium
    summary = "lr_scheduler.step() runs before optimizer.step()"
    why = (
        "Since PyTorch 1.1 the scheduler must step after the optimizer. Stepping it first (at the top "
        "of the epoch, or before optimizer.step() in the batch loop) skips the first value of the "
        "schedule: training starts at the second learning rate and ends one step early, with a warning."
    )
    fix_text = "Call `scheduler.step()` after `optimizer.step()` (per-epoch schedulers: at the end of the epoch)."
    bad = (
        "for epoch in range(epochs):\n"
        "    scheduler.step()\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n"
        "        optimizer.step()\n"
    )
    good = (
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        optimizer.zero_grad()\n"
        "        criterion(model(x), y).backward()\n"
        "        optimizer.step()\n"
        "    scheduler.step()\n"
    )

    def check(self, ctx: Context):
        steps = ctx.calls("step")
        if not steps:
            return
        made_by = _assigned_from(ctx)
        optimizer_names = set()
        for call in optimizer_constructions(ctx):
            stmt = ctx.statement_of(call)
            if isinstance(stmt, ast.Assign):
                optimizer_names.update(filter(None, (dotted(t) for t in stmt.targets)))
        sched_steps, opt_steps = [], []
        for call in steps:
            recv = receiver(call)
            name = dotted(recv) if recv is not None else None
            if not name:
                continue
            made = made_by.get(name, "")
            if "lr_scheduler" in made or (SCHEDULER_RE.search(name.rsplit(".", 1)[-1]) and not OPTIMIZER_RE.search(name)):
                if PLATEAU in made or (call.args and "lr_scheduler" not in made):
                    continue  # ReduceLROnPlateau.step(metric): stepped after validation by design
                sched_steps.append(call)
            elif name in optimizer_names or OPTIMIZER_RE.search(name) or "scaler" in name.lower():
                opt_steps.append(call)
        for sched in sched_steps:
            loops = ctx.loops_around(sched)
            if not loops or self._warmup_guard(ctx, sched, loops[0]):
                continue
            loop = loops[0]
            if any(self._later_in_iteration(ctx, sched, o, loop) for o in opt_steps) or self._trains_later(
                ctx, sched, loop, optimizer_names
            ):
                yield self.report(ctx, sched)

    @staticmethod
    def _later_in_iteration(ctx: Context, sched: ast.Call, opt: ast.Call, loop: ast.AST) -> bool:
        return ctx.is_inside(opt, loop) and before(sched, opt) and not mutually_exclusive(ctx, sched, opt)

    @staticmethod
    def _trains_later(ctx: Context, sched: ast.Call, loop: ast.AST, optimizer_names: set[str]) -> bool:
        """A later call in the same loop body that is handed the optimizer (`train(model, optimizer)`)
        or calls a function of this file that steps an optimizer."""
        for node in ast.walk(loop):
            if not isinstance(node, ast.Call) or not before(sched, node) or callee_name(node) == "step":
                continue
            name = callee_name(node)
            if name and TRAIN_CALL_RE.search(name):
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    passed = dotted(arg)
                    if passed and (passed in optimizer_names or OPTIMIZER_RE.search(passed)):
                        return not mutually_exclusive(ctx, sched, node)
            eff = ctx.project.effects_at(ctx, node)  # a helper, method or imported function that steps
            if eff is not None and any(not SCHEDULER_RE.search(o) for o in eff.steps):
                return not mutually_exclusive(ctx, sched, node)
            for fn in ctx.functions_by_name.get(name or "", ()):
                for inner in ast.walk(fn):
                    if isinstance(inner, ast.Call) and callee_name(inner) == "step":
                        recv = dotted(receiver(inner)) if receiver(inner) is not None else ""
                        if recv and OPTIMIZER_RE.search(recv) and not SCHEDULER_RE.search(recv):
                            return not mutually_exclusive(ctx, sched, node)
        return False

    @staticmethod
    def _warmup_guard(ctx: Context, sched: ast.Call, loop: ast.AST) -> bool:
        """`if epoch > 0: scheduler.step()` / `if step >= warmup:` -- custom ordering logic."""
        targets = set()
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            targets = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
        for anc in ctx.ancestors(sched):
            if anc is loop:
                return False
            if isinstance(anc, ast.If):
                for n in ast.walk(anc.test):
                    if isinstance(n, ast.Compare):
                        names = {dotted(x) or "" for x in ast.walk(n) if isinstance(x, (ast.Name, ast.Attribute))}
                        if names & targets or any(WARMUP_WORDS.search(x) for x in names):
                            return True
        return False
