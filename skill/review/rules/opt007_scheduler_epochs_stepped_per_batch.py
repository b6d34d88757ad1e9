"""PT-OPT007 scheduler-epochs-stepped-per-batch (and per-step schedules stepped once per epoch)."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function
from ._trainloop import branch_of, events, home_of, loader_constructions, loop_source, site, training_loops, value_of, where
from .opt003_misaligned_accumulation import modulo_test

# scheduler class -> (argument name, position) holding its length
EPOCH_SIZED = {"StepLR": ("step_size", 1), "MultiStepLR": ("milestones", 1), "CosineAnnealingLR": ("T_max", 1)}
STEP_SIZED = {
    "OneCycleLR": ("total_steps", 2),
    "get_linear_schedule_with_warmup": ("num_training_steps", 2),
    "get_cosine_schedule_with_warmup": ("num_training_steps", 2),
    "get_scheduler": ("num_training_steps", 99),
}
STEPS_WORD_RE = re.compile(r"(len\(|step|iter|batch|total|num_updates|updates)", re.I)
EPOCH_WORD_RE = re.compile(r"epoch", re.I)
LOADER_NAME_RE = re.compile(r"(loader|(^|_)dl($|_)|batches|dataloader)", re.I)


def _arg(call: ast.Call, name: str, pos: int) -> ast.AST | None:
    v = kwarg_value(call, name)
    if v is None and len(call.args) > pos:
        v = call.args[pos]
    return v


def sized_in_epochs(call: ast.Call) -> bool:
    name = callee_name(call)
    if name not in EPOCH_SIZED:
        return False
    arg = _arg(call, *EPOCH_SIZED[name])
    if arg is None:
        return False
    text = ast.unparse(arg)
    if STEPS_WORD_RE.search(text):
        return False
    if EPOCH_WORD_RE.search(text):
        return True
    values = [const_value(e) for e in arg.elts] if isinstance(arg, (ast.List, ast.Tuple)) else [const_value(arg)]
    return bool(values) and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 400 for v in values)


def sized_in_steps(call: ast.Call) -> bool:
    name = callee_name(call)
    if name == "OneCycleLR" and kwarg_value(call, "steps_per_epoch") is not None:
        return True
    if name not in STEP_SIZED:
        return False
    arg = _arg(call, *STEP_SIZED[name])
    return arg is not None and bool(STEPS_WORD_RE.search(ast.unparse(arg)))


def _is_batch_loop(ctx: Context, loop: ast.AST) -> bool:
    src = loop_source(loop)
    if src is None:
        return False
    return bool(LOADER_NAME_RE.search((dotted(src) or "").rsplit(".", 1)[-1])) or bool(loader_constructions(ctx, src))


class SchedulerEpochsSteppedPerBatch(Rule):
    code = "PT-OPT007"
    name = "scheduler-epochs-stepped-per-batch"
    severity = Severity.high
    summary = "An LR scheduler sized in epochs is stepped every batch (or one sized in steps is stepped every epoch)"
    why = (
        "`StepLR(step_size=30)`, `MultiStepLR(milestones=[30, 60])` and `CosineAnnealingLR(T_max=epochs)` count "
        "`scheduler.step()` calls as epochs. Stepped every batch, the whole schedule runs out in the first epoch(s): "
        "the LR decays to nearly zero (or cycles) almost immediately. The inverse, a `OneCycleLR`/warmup schedule "
        "sized in optimizer steps but stepped once per epoch, never leaves its warmup."
    )
    fix_text = (
        "Step epoch-sized schedulers once per epoch, after the batch loop; or size them in steps "
        "(`T_max=epochs * len(loader)`). Step step-sized schedulers right after `optimizer.step()`."
    )
    bad = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)\n"
        "for epoch in range(args.epochs):\n"
        "    for x, y in train_loader:\n"
        "        optimizer.zero_grad()\n"
        "        loss = criterion(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "        scheduler.step()\n"
    )
    good = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)\n"
        "for epoch in range(args.epochs):\n"
        "    for x, y in train_loader:\n"
        "        optimizer.zero_grad()\n"
        "        loss = criterion(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "    scheduler.step()\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("step") and not ctx.project.may_import(ctx, ("step(",)):
            return
        reported: set[int] = set()
        loops = training_loops(ctx)
        for loop in loops:
            if is_test_function(ctx, ctx.enclosing_function(loop)) or not _is_batch_loop(ctx, loop):
                continue
            for e in events(ctx, loop):
                if e.kind != "sched_step" or id(e.node) in reported or self._conditional(ctx, e.anchor, loop):
                    continue
                ctor = self._constructor(home_of(ctx, e.node), e.node)
                if ctor is None or not sized_in_epochs(ctor):
                    continue
                reported.add(id(e.node))
                yield self.report(
                    ctx, site(ctx, e),
                    f"`{callee_name(ctor)}` ({where(ctx, ctor)}) is sized in epochs but stepped every batch: its whole "
                    "schedule is used up within the first epoch(s)",
                )
        # per-step schedules stepped in the epoch loop, outside the batch loop (which may be in a helper)
        for outer in ctx.nodes(ast.For, ast.While):
            evs = events(ctx, outer)
            if not any(
                e.kind == "backward" and any(lp is not outer and _is_batch_loop(ctx, lp) for lp in ctx.loops_around(e.node))
                and (e.anchor is not e.node or ctx.is_inside(e.node, outer))
                for e in evs
            ):
                continue
            for e in evs:
                if e.kind != "sched_step" or id(e.node) in reported:
                    continue
                if any(_is_batch_loop(ctx, lp) for lp in ctx.loops_around(e.node)):
                    continue  # stepped per batch
                if ctx.loops_around(e.anchor)[:1] != [outer]:
                    continue
                ctor = self._constructor(home_of(ctx, e.node), e.node)
                if ctor is None or not sized_in_steps(ctor):
                    continue
                reported.add(id(e.node))
                yield self.report(
                    ctx, site(ctx, e),
                    f"`{callee_name(ctor)}` ({where(ctx, ctor)}) is sized in optimizer steps but stepped once per epoch: "
                    "the schedule barely advances (stuck in warmup / at its start)",
                )

    @staticmethod
    def _constructor(ctx: Context, step: ast.Call) -> ast.Call | None:
        values = value_of(ctx, step.func.value)  # type: ignore[attr-defined]
        calls = [v for v in values if isinstance(v, ast.Call)]
        if len(calls) != 1 or len(values) != 1:
            return None
        return calls[0]

    @staticmethod
    def _conditional(ctx: Context, node: ast.AST, loop: ast.AST) -> bool:
        """Under an `if` in the batch loop other than an accumulation test (`if i == len(loader) - 1:`)."""
        for n, _label in branch_of(ctx, node):
            if not ctx.is_inside(n, loop):
                break
            if isinstance(n, ast.If) and modulo_test(n.test) is not None:
                test = n.test
                if "len(" not in ast.unparse(test):
                    continue
            return True
        return False
