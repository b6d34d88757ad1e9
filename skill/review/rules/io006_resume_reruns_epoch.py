"""PT-IO006 resume-reruns-epoch: resuming at the saved epoch, which had already finished."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, const_value, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import local_function, walk_no_defs

EPOCH_KEY_RE = re.compile(r"^(epoch|cur_epoch|current_epoch|last_epoch|ep)$", re.I)


def _epoch_read(value: ast.AST) -> str | None:
    """'epoch' for `ckpt['epoch']`, `ckpt.get('epoch', 0)`, `int(ckpt['epoch'])`."""
    if isinstance(value, ast.Call) and callee_name(value) == "int" and value.args:
        value = value.args[0]
    if isinstance(value, ast.Subscript):
        key = const_value(value.slice)
        return key if isinstance(key, str) and EPOCH_KEY_RE.match(key) else None
    if isinstance(value, ast.Call) and callee_name(value) == "get" and value.args:
        key = const_value(value.args[0])
        return key if isinstance(key, str) and EPOCH_KEY_RE.match(key) else None
    return None


def _is_saving(call: ast.AST) -> bool:
    return isinstance(call, ast.Call) and "save" in (callee_name(call) or "").lower()


def _is_saved(ctx: Context, d: ast.AST, scope: ast.AST) -> bool:
    """Does the dict reach a save call: as its argument, or through the name it is assigned to? (A
    `dict(epoch=epoch, loss=...)` printed as a JSON log line is not the checkpoint.)"""
    child, parent = d, ctx.parent(d)
    while isinstance(parent, (ast.Call, ast.keyword, ast.Dict, ast.List, ast.Tuple)):
        if _is_saving(parent) and child is not getattr(parent, "func", None):
            return True
        child, parent = parent, ctx.parent(parent)
    if isinstance(parent, ast.Assign) and parent.value is child:
        names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
        for n in ast.walk(scope):
            if _is_saving(n) and any(isinstance(a, ast.Name) and a.id in names
                                     for a in (*n.args, *(k.value for k in n.keywords))):  # type: ignore[attr-defined]
                return True
    return False


class ResumeRerunsEpoch(Rule):
    code = "PT-IO006"
    name = "resume-reruns-epoch"
    severity = Severity.high
    summary = "Resume starts at the saved epoch although the checkpoint was written after that epoch finished"
    why = (
        "The checkpoint stores `epoch` at the end of that epoch's training, so `range(ckpt['epoch'], epochs)` "
        "trains the finished epoch a second time: the model sees that data twice, the LR scheduler is one step "
        "ahead of the epoch counter and the run's results differ from an uninterrupted one."
    )
    fix_text = "Resume at `ckpt['epoch'] + 1` (or save `'epoch': epoch + 1`, the next epoch to run)."
    bad = (
        "import torch\n\n"
        "start_epoch = 0\n"
        "if args.resume:\n"
        "    ckpt = torch.load(args.resume, weights_only=True)\n"
        "    model.load_state_dict(ckpt['model'])\n"
        "    optimizer.load_state_dict(ckpt['optimizer'])\n"
        "    start_epoch = ckpt['epoch']\n"
        "for epoch in range(start_epoch, args.epochs):\n"
        "    train_one_epoch(model, loader, optimizer)\n"
        "    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': epoch}, 'last.pt')\n"
    )
    good = bad.replace("start_epoch = ckpt['epoch']\n", "start_epoch = ckpt['epoch'] + 1\n")

    def check(self, ctx: Context):
        if not ctx.calls("range") or not ctx.calls("save"):
            return
        for assign in ctx.nodes(ast.Assign):
            if len(assign.targets) != 1:  # type: ignore[attr-defined]
                continue
            key = _epoch_read(assign.value)  # type: ignore[attr-defined]
            target = dotted(assign.targets[0])  # type: ignore[attr-defined]
            if key is None or not target:
                continue
            scope = ctx.enclosing_function(assign)
            # `self.start_epoch = ckpt["epoch"]` in a resume method, `range(self.start_epoch, ...)` in fit()
            cls = ctx.enclosing_class(assign) if target.startswith("self.") else None
            for loop in ctx.nodes(ast.For):
                if ctx.enclosing_function(loop) is not scope and (cls is None or ctx.enclosing_class(loop) is not cls):
                    continue
                it = loop.iter  # type: ignore[attr-defined]
                if not (isinstance(it, ast.Call) and callee_name(it) in {"range", "trange"} and len(it.args) >= 2):
                    continue
                if dotted(it.args[0]) != target or not isinstance(loop.target, ast.Name):  # type: ignore[attr-defined]
                    continue
                if self._saves_finished_epoch(ctx, loop, key):
                    yield self.report(
                        ctx, assign,
                        f"`{target}` resumes at the saved `{key}`, but the checkpoint is written after epoch `{key}` "
                        f"finished (line {loop.lineno} loop): the resumed run trains that epoch again",
                    )
                    break

    def _saves_finished_epoch(self, ctx: Context, loop: ast.For, key: str) -> bool:
        """Inside the epoch loop a dict saved with `key: <loop var>` (also through a local save helper)."""
        var = loop.target.id  # type: ignore[attr-defined]
        for node in walk_no_defs(loop):
            if isinstance(node, ast.Dict) and self._dict_has(node, key, {var}) and _is_saved(ctx, node, loop):
                return True
            if isinstance(node, ast.Call) and callee_name(node) == "dict":
                if any(kw.arg == key and isinstance(kw.value, ast.Name) and kw.value.id == var for kw in node.keywords) \
                        and _is_saved(ctx, node, loop):
                    return True
            if isinstance(node, ast.Call):
                helper = local_function(ctx, node)
                if helper is None or ctx.is_inside(node, helper):
                    continue
                params = [a.arg for a in (*helper.args.posonlyargs, *helper.args.args)]
                if params and params[0] in {"self", "cls"} and isinstance(node.func, ast.Attribute):
                    params = params[1:]
                passed = {p for p, a in zip(params, node.args) if isinstance(a, ast.Name) and a.id == var}
                passed |= {kw.arg for kw in node.keywords if kw.arg and isinstance(kw.value, ast.Name) and kw.value.id == var}
                if passed and any(isinstance(d, ast.Dict) and self._dict_has(d, key, passed) and _is_saved(ctx, d, helper)
                                  for d in ast.walk(helper)):
                    return True
        return False

    @staticmethod
    def _dict_has(d: ast.Dict, key: str, names: set[str]) -> bool:
        for k, v in zip(d.keys, d.values):
            if k is not None and const_value(k) == key and isinstance(v, ast.Name) and v.id in names:
                return True
        return False
