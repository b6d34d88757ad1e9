"""PT-IO002 load-without-weights-only."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, has_star_kwargs, keyword
from ..models import Severity
from ..rule import Rule
from ..semantics import TORCH_LOAD, append_keyword_argument, calls_of, is_torch_load
from ._api_common import target_torch

# What may sit between the last argument and the call's `)`: spaces, a trailing comma, comments.
CALL_TAIL_RE = re.compile(r"^(\s|,|#[^\n]*)*\)$")


class LoadWithoutWeightsOnly(Rule):
    code = "PT-IO002"
    name = "load-without-weights-only"
    severity = Severity.low  # graded per finding: high when the target torch is older than 2.6
    summary = "`torch.load` without `weights_only=True`"
    why = (
        "On torch >= 2.6 a bare torch.load is safe (weights_only=True is the default) but breaks on files "
        "that pickle whole models or custom classes; on older torch it unpickles, and unpickling an "
        "untrusted file runs arbitrary code. Saying `weights_only=True` explicitly documents intent and is "
        "safe on every version. Low severity when the target torch (`target-torch`, default 2.6) is >= 2.6."
    )
    fix_text = (
        "Pass `weights_only=True` (checkpoints of tensors, dicts, lists and primitives load fine); use "
        "`weights_only=False` only for trusted files that need full pickling."
    )
    bad = "state = torch.load(path)\n"
    good = "state = torch.load(path, map_location=device, weights_only=True)\n"
    fix_applicability = "unsafe"  # a file that pickles custom objects stops loading

    def check(self, ctx: Context):
        for call in calls_of(ctx, TORCH_LOAD):
            if not is_torch_load(ctx, call) or keyword(call, "weights_only") is not None or has_star_kwargs(call):
                continue
            d = self.report(ctx, call, fix=self._fix(ctx, call))
            if target_torch(ctx) < (2, 6):
                d.message = (
                    "`torch.load` without `weights_only=True` unpickles the file on torch < 2.6, which runs any "
                    "code it contains"
                )
                d.extra["severity"] = Severity.high
            else:
                d.message = (
                    "`torch.load` without `weights_only=True`: safe by default on torch >= 2.6, but say it so "
                    "the load stays safe on older torch and the intent is visible"
                )
            yield d

    def _fix(self, ctx: Context, call: ast.Call):
        last = max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset), default=None)
        if last is None:
            return None
        tail = _text_between(ctx, last, call)
        if tail is None or not CALL_TAIL_RE.match(tail):
            return None  # e.g. a parenthesised argument: appending inside its parentheses would change it
        edit = append_keyword_argument(ctx, call, "weights_only=True")
        if edit is None:
            return None
        return self.make_fix("add `weights_only=True`", [edit])


def _text_between(ctx: Context, last: ast.AST, call: ast.Call) -> str | None:
    """Source text from the end of `last` to the end of `call` (UTF-8 byte offsets from ast)."""
    lines = ctx.lines
    l1, c1 = last.end_lineno, last.end_col_offset  # type: ignore[attr-defined]
    l2, c2 = call.end_lineno, call.end_col_offset
    if l1 is None or l2 is None or c1 is None or c2 is None or l2 > len(lines):
        return None
    if l1 == l2:
        return lines[l1 - 1].encode()[c1:c2].decode(errors="replace")
    parts = [lines[l1 - 1].encode()[c1:].decode(errors="replace")]
    parts.extend(lines[l1: l2 - 1])
    parts.append(lines[l2 - 1].encode()[:c2].decode(errors="replace"))
    return "\n".join(parts)
