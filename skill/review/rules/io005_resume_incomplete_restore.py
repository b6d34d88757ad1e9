"""PT-IO005 resume-incomplete-restore: a resume that restores model and optimizer but not the rest."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function, is_torch_save
from ._trainloop import role, role_of_value, training_loops

PROGRESS_RE = re.compile(r"(epoch|step|iter)", re.I)
RESUME_SOURCE_RE = re.compile(r"(resume|ckpt|checkpoint|saved_model|restore)", re.I)
FRAMEWORK_RESTORE = {"load_state", "restore", "resume_from_checkpoint", "load_checkpoint_in_model", "restore_checkpoint"}
RNG_GET = {"get_rng_state", "get_rng_state_all", "getstate", "get_state", "get_cuda_rng_state"}
RNG_SET = {"set_rng_state", "set_rng_state_all", "setstate", "set_state", "set_cuda_rng_state"}


class ResumeIncompleteRestore(Rule):
    code = "PT-IO005"
    name = "resume-incomplete-restore"
    severity = Severity.high
    summary = "Resume restores model and optimizer but not the GradScaler, the LR scheduler or the epoch/step position"
    why = (
        "A resumed run must continue the same run. Without the scheduler's state the learning rate restarts "
        "from its initial value (a new warmup, a decayed LR jumping back up); without the GradScaler's state fp16 "
        "training restarts at scale 65536 and skips steps until it re-calibrates; without the epoch/step the run "
        "trains from epoch 0 again, over-training and repeating the LR schedule."
    )
    fix_text = (
        "Restore everything that was saved: `scheduler.load_state_dict(ckpt['scheduler'])`, "
        "`scaler.load_state_dict(ckpt['scaler'])`, `start_epoch = ckpt['epoch'] + 1`."
    )
    bad = (
        "import torch\n\n"
        "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)\n"
        "start_epoch = 0\n"
        "if args.resume:\n"
        "    ckpt = torch.load(args.resume, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ckpt['model'])\n"
        "    optimizer.load_state_dict(ckpt['optimizer'])\n"
        "    start_epoch = ckpt['epoch'] + 1\n"
        "for epoch in range(start_epoch, epochs):\n"
        "    train_one_epoch(model, optimizer)\n"
        "    scheduler.step()\n"
        "    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(),\n"
        "                'scheduler': scheduler.state_dict(), 'epoch': epoch}, 'last.pt')\n"
    )
    good = bad.replace(
        "    start_epoch = ckpt['epoch'] + 1\n",
        "    scheduler.load_state_dict(ckpt['scheduler'])\n    start_epoch = ckpt['epoch'] + 1\n",
    )

    def check(self, ctx: Context):
        loads = [c for c in ctx.calls("load_state_dict") if isinstance(c.func, ast.Attribute)]
        if not loads or not any(is_torch_save(ctx, c) for c in ctx.calls("save")):
            return
        if ctx.calls(*FRAMEWORK_RESTORE):
            return
        opt_loads = [c for c in loads if role(ctx, c.func.value) == "optimizer"]  # type: ignore[attr-defined]
        if not opt_loads:
            return
        site = opt_loads[0]
        if is_test_function(ctx, ctx.enclosing_function(site)) or not self._trains(ctx):
            return  # a checkpoint utility module: the training script decides what to restore
        restored = {role(ctx, c.func.value) for c in loads}  # type: ignore[attr-defined]
        missing: list[tuple[str, str]] = []
        scalers = [c for c in ctx.calls("GradScaler", "ShardedGradScaler") if const_value(kwarg_value(c, "enabled")) is not False]
        if scalers and "scaler" not in restored:
            missing.append(("the GradScaler", "the loss scale restarts at 65536 and skips steps while it re-calibrates"))
        if "scheduler" not in restored and self._unrestored_scheduler(ctx):
            missing.append(("the LR scheduler", "the learning rate restarts from the schedule's first value"))
        if not self._reads_progress(ctx):
            missing.append(("the epoch/step position", "training restarts from epoch 0"))
        if missing:
            what = " and ".join(m[0] for m in missing)
            effect = "; ".join(m[1] for m in missing)
            yield self.report(
                ctx, site,
                f"Resume restores the model and optimizer but not {what}: the resumed run does not continue the "
                f"interrupted one ({effect})",
            )
        elif ctx.calls(*RNG_GET) and not ctx.calls(*RNG_SET) and self._saves_rng(ctx):
            d = self.report(
                ctx, site,
                "The checkpoint saves the RNG states but the resume never restores them: the resumed run draws "
                "different shuffles, augmentations and dropout masks than an uninterrupted one",
            )
            d.extra["severity"] = Severity.low
            yield d

    @staticmethod
    def _trains(ctx: Context) -> bool:
        """The file runs training: a loop with a backward, or a loop calling a train* function."""
        if training_loops(ctx):
            return True
        for loop in ctx.nodes(ast.For, ast.While):
            for n in ast.walk(loop):
                if isinstance(n, ast.Call) and "train" in (callee_name(n) or "").lower():
                    return True
        return False

    @staticmethod
    def _unrestored_scheduler(ctx: Context) -> bool:
        """A scheduler object is built and not rebuilt at the resumed position (`last_epoch=start - 1`)."""
        found = False
        for call in ctx.nodes(ast.Call):
            if role_of_value(ctx, call) != "scheduler" or callee_name(call) == "ReduceLROnPlateau":  # type: ignore[arg-type]
                continue
            stmt = ctx.statement_of(call)
            if not isinstance(stmt, ast.Assign):
                continue
            last_epoch = kwarg_value(call, "last_epoch")  # type: ignore[arg-type]
            if last_epoch is not None and const_value(last_epoch) != -1:
                return False
            found = True
        return found

    @staticmethod
    def _reads_progress(ctx: Context) -> bool:
        """A progress key read from a loaded object (`ckpt['epoch']`, `state.get('step')`), or set from one."""
        for n in ctx.nodes(ast.Subscript):
            key = const_value(n.slice)  # type: ignore[attr-defined]
            if isinstance(key, str) and PROGRESS_RE.search(key) and isinstance(n.ctx, ast.Load):  # type: ignore[attr-defined]
                return True
        for c in ctx.calls("get", "pop"):
            if c.args and isinstance(const_value(c.args[0]), str) and PROGRESS_RE.search(const_value(c.args[0])):  # type: ignore[arg-type]
                return True
        for n in ctx.nodes(ast.Attribute):
            if isinstance(n.ctx, ast.Load) and PROGRESS_RE.search(n.attr) and (dotted(n.value) or "").split(".")[0] not in {  # type: ignore[attr-defined]
                "self", "args", "cfg", "config", "hparams", "opt", "opts", "FLAGS", "torch", "optim", "optimizer", "",
            }:
                return True  # snapshot.finished_epoch, state.global_step
        for node in ctx.nodes(ast.Assign):
            # `resume_step = parse_step_from_filename(args.resume_checkpoint)`, `start_iter = int(path.split("_")[-1])`:
            # the position is recovered from the checkpoint's name
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]  # type: ignore[attr-defined]
            value = node.value  # type: ignore[attr-defined]
            if not any(PROGRESS_RE.search(n) for n in names) or not isinstance(value, ast.Call):
                continue
            if any(RESUME_SOURCE_RE.search(dotted(sub) or "") for sub in ast.walk(value)
                   if isinstance(sub, (ast.Name, ast.Attribute))):
                return True
        return False

    @staticmethod
    def _saves_rng(ctx: Context) -> bool:
        return any(is_torch_save(ctx, c) for c in ctx.calls("save"))
