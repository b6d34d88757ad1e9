"""PT-IO004 incomplete-resume-checkpoint."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    TORCH_LOAD,
    TORCH_SAVE,
    calls_of,
    is_torch_load,
    is_test_function,
    is_torch_save,
    latest_binding,
)

RESUME_RE = re.compile(r"(resume|start_epoch|start_step|start_iter|initial_epoch|begin_epoch|restore_checkpoint|load_checkpoint)", re.IGNORECASE)
EXPORT_RE = re.compile(r"(best|final|export|deploy|inference|pretrain|release)", re.IGNORECASE)
TRAIN_STATE_RE = re.compile(r"(optim|opt$|^opt|sched|scaler|lr_)", re.IGNORECASE)
CKPT_FUNC_RE = re.compile(r"(save|checkpoint|ckpt)", re.IGNORECASE)
PROGRESS_KEY_RE = re.compile(r"(epoch|step|iter)", re.IGNORECASE)
FRAMEWORK_RE = re.compile(r"(trainer|accelerator|fabric|engine|deepspeed|strategy)", re.IGNORECASE)
OPTIMIZER_CLASSES = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS", "Lion", "Adafactor"}


class IncompleteResumeCheckpoint(Rule):
    code = "PT-IO004"
    name = "incomplete-resume-checkpoint"
    severity = Severity.medium
    summary = "Periodic checkpoint saves only the model weights although training resumes from it"
    why = (
        "A resumed run needs more than the weights: the optimizer's moments and step counts, the LR scheduler, "
        "the GradScaler and the epoch/step. Restarting from weights alone resets Adam's statistics and the LR "
        "schedule, so the resumed run silently differs from an uninterrupted one."
    )
    fix_text = (
        "Save a dict: `{'model': model.state_dict(), 'optimizer': opt.state_dict(), 'scheduler': "
        "sched.state_dict(), 'epoch': epoch}` (plus scaler and RNG states) and restore all of it on resume."
    )
    bad = (
        "optimizer = torch.optim.AdamW(model.parameters())\n"
        "if args.resume:\n    model.load_state_dict(torch.load('last.pt', weights_only=True))\n"
        "for epoch in range(epochs):\n    train_one_epoch(model, optimizer)\n"
        "    torch.save(model.state_dict(), 'last.pt')  # resume() reloads it\n"
    )
    good = (
        "optimizer = torch.optim.AdamW(model.parameters())\n"
        "for epoch in range(epochs):\n    train_one_epoch(model, optimizer)\n"
        "    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': epoch}, 'last.pt')\n"
    )

    def check(self, ctx: Context):
        saves = [c for c in calls_of(ctx, TORCH_SAVE) if is_torch_save(ctx, c) and c.args]
        if not saves or not self._has_optimizer(ctx):
            return
        resume_tokens = self._resume_tokens(ctx)
        for call in saves:
            if is_test_function(ctx, ctx.enclosing_function(call)):
                continue  # a unit test's fixture checkpoint, not a training run's
            if not self._weights_only(ctx, call.args[0], call):
                continue
            # a step/epoch counter alone is bookkeeping: the file must resume (or reload this file) to make the
            # missing optimizer state a defect rather than a guess about future use
            if not (resume_tokens or self._reloaded(ctx, call)):
                continue
            if self._train_state_saved_nearby(ctx, call):
                continue
            if not self._periodic(ctx, call) or self._export(ctx, call):
                # a "best" or end-of-evaluation save is an export, unless this file resumes training from that
                # very file (`start_epoch = checkpoint["epoch"]`): then it is the resume checkpoint
                if not (self._reloaded(ctx, call) and self._saves_progress(ctx, call.args[0], call) and resume_tokens):
                    continue
            yield self.report(ctx, call)

    @staticmethod
    def _resume_tokens(ctx: Context) -> bool:
        """A resume flag/variable/option in code (names, attributes, strings such as '--resume'; not comments)."""
        if not RESUME_RE.search(ctx.source):
            return False
        for n in ctx.nodes(ast.Name):
            if RESUME_RE.search(n.id):  # type: ignore[attr-defined]
                return True
        for n in ctx.nodes(ast.Attribute):
            if RESUME_RE.search(n.attr):  # type: ignore[attr-defined]
                return True
        for n in ctx.nodes(ast.arg):
            if RESUME_RE.search(n.arg):  # type: ignore[attr-defined]
                return True
        for n in ctx.nodes(ast.FunctionDef):
            if RESUME_RE.search(n.name):  # type: ignore[attr-defined]
                return True
        for n in ctx.nodes(ast.Constant):
            v = n.value  # type: ignore[attr-defined]
            if isinstance(v, str) and len(v) < 80 and RESUME_RE.search(v):
                return True
        return False

    @staticmethod
    def _has_optimizer(ctx: Context) -> bool:
        if any(callee_name(c) in OPTIMIZER_CLASSES for c in ctx.calls(*OPTIMIZER_CLASSES)):
            return True
        return any(TRAIN_STATE_RE.search((dotted(c.func.value) or "").rsplit(".", 1)[-1]) for c in ctx.calls("step") if isinstance(c.func, ast.Attribute))

    def _weights_only(self, ctx: Context, obj: ast.AST, at: ast.AST) -> bool:
        if isinstance(obj, ast.Name):
            b = latest_binding(ctx, obj.id, at)
            if b is None or b[1] is None:
                return False
            obj = b[1]
        if isinstance(obj, ast.Call):
            return self._is_model_state(obj)
        if isinstance(obj, ast.Dict):
            has_model = False
            for key, value in zip(obj.keys, obj.values):
                if key is None:
                    return False  # {**extra}: unknown contents
                key_text = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else ""
                if TRAIN_STATE_RE.search(key_text):
                    return False
                for n in ast.walk(value):
                    if isinstance(n, ast.Call) and callee_name(n) == "state_dict":
                        if self._is_model_state(n):
                            has_model = True
                        else:
                            return False
                    if isinstance(n, (ast.Name, ast.Attribute)) and TRAIN_STATE_RE.search((dotted(n) or "").rsplit(".", 1)[-1]):
                        return False
            return has_model
        return False

    @staticmethod
    def _is_model_state(call: ast.Call) -> bool:
        """`model.state_dict()` (not the optimizer's, scheduler's or scaler's)."""
        if callee_name(call) != "state_dict" or not isinstance(call.func, ast.Attribute):
            return False
        recv = dotted(call.func.value) or ""
        return bool(recv) and not TRAIN_STATE_RE.search(recv.rsplit(".", 1)[-1])

    @staticmethod
    def _reloaded(ctx: Context, save: ast.Call) -> bool:
        """The file loads the very path it saves to (`self.ckpt_path` and `ckpt_path` count as the same)."""
        if len(save.args) < 2:
            return False
        path = ctx.segment(save.args[1]).removeprefix("self.")
        from ..semantics import contains_training_step

        for c in calls_of(ctx, TORCH_LOAD):
            if not (is_torch_load(ctx, c) and c.args and ctx.segment(c.args[0]).removeprefix("self.") == path):
                continue
            fn = ctx.enclosing_function(c)
            if fn is not None and not contains_training_step(ctx, fn) and not RESUME_RE.search(fn.name) \
                    and not _reads_progress(fn):
                continue  # loaded into a fresh model for prediction (`restore_params()`), not to resume training
            return True
        return False

    @staticmethod
    def _saves_progress(ctx: Context, obj: ast.AST, at: ast.AST) -> bool:
        """A checkpoint dict that records the epoch/step is meant for resuming."""
        if isinstance(obj, ast.Name):
            b = latest_binding(ctx, obj.id, at)
            obj = b[1] if b is not None and b[1] is not None else obj
        if not isinstance(obj, ast.Dict):
            return False
        return any(
            isinstance(k, ast.Constant) and isinstance(k.value, str) and PROGRESS_KEY_RE.search(k.value)
            for k in obj.keys
        )

    @staticmethod
    def _periodic(ctx: Context, call: ast.Call) -> bool:
        """In the epoch/step loop, or in a save_checkpoint-style function."""
        if ctx.loops_around(call):
            return True
        fn = ctx.enclosing_function(call)
        return fn is not None and bool(CKPT_FUNC_RE.search(fn.name))

    @staticmethod
    def _export(ctx: Context, call: ast.Call) -> bool:
        """Best-model or final exports: weights only is right there."""
        if len(call.args) >= 2 and EXPORT_RE.search(ctx.segment(call.args[1])):
            return True
        if len(call.args) >= 2 and isinstance(call.args[1], ast.Name):
            b = latest_binding(ctx, call.args[1].id, call)
            if b is not None and b[1] is not None and EXPORT_RE.search(ctx.segment(b[1])):
                return True
        child: ast.AST = call
        for anc in ctx.ancestors(call):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if EXPORT_RE.search(anc.name):
                    return True
                break
            if isinstance(anc, ast.If) and EXPORT_RE.search(ctx.segment(anc.test)) and child in anc.body:
                return True
            child = anc
        return False

    def _train_state_saved_nearby(self, ctx: Context, call: ast.Call) -> bool:
        """Another save in the same function/loop writes the optimizer (or a framework saves the state)."""
        for c in ctx.calls("save_state", "save_checkpoint"):
            recv = (dotted(c.func.value) or "") if isinstance(c.func, ast.Attribute) else ""
            if FRAMEWORK_RE.search(recv.rsplit(".", 1)[-1]):
                return True  # accelerator.save_state / trainer.save_checkpoint save the whole training state
        scope = ctx.enclosing_function(call) or ctx.tree
        for other in calls_of(ctx, TORCH_SAVE):
            if other is call or not other.args or not ctx.is_inside(other, scope):
                continue
            for n in ast.walk(other.args[0]):
                if isinstance(n, (ast.Name, ast.Attribute)) and TRAIN_STATE_RE.search((dotted(n) or "").rsplit(".", 1)[-1]):
                    return True
        return False


def _reads_progress(fn: ast.AST) -> bool:
    """The loading function reads an epoch/step key back (`self.epochs_run = snapshot["EPOCHS_RUN"]`): a resume."""
    return any(
        isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)
        and PROGRESS_KEY_RE.search(n.slice.value) and isinstance(n.ctx, ast.Load)
        for n in ast.walk(fn)
    )
