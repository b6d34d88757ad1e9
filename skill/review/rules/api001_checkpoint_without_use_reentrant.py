"""PT-API001 checkpoint-without-use-reentrant."""

from __future__ import annotations

import ast

from ..analysis import Context, keyword
from ..models import Severity
from ..rule import Rule
from ..semantics import append_keyword_argument, calls_of

CHECKPOINT_FUNCS = frozenset({
    "torch.utils.checkpoint.checkpoint",
    "torch.utils.checkpoint.checkpoint_sequential",
})


class CheckpointWithoutUseReentrant(Rule):
    code = "PT-API001"
    name = "checkpoint-without-use-reentrant"
    severity = Severity.medium
    summary = "`torch.utils.checkpoint` called without an explicit `use_reentrant=`"
    why = (
        "Without `use_reentrant`, activation checkpointing warns and falls back to the reentrant "
        "implementation, whose default is being changed. Reentrant mode silently produces no parameter "
        "gradients when none of the checkpointed inputs requires grad, and does not support "
        "`torch.autograd.grad` or keyword arguments."
    )
    fix_text = "Pass `use_reentrant=False` (the recommended non-reentrant implementation)."
    bad = (
        "import torch\nfrom torch.utils.checkpoint import checkpoint\n\n"
        "layer = torch.nn.Linear(4, 4)\nx = checkpoint(layer, torch.randn(2, 4))\n"
    )
    good = (
        "import torch\nfrom torch.utils.checkpoint import checkpoint\n\n"
        "layer = torch.nn.Linear(4, 4)\nx = checkpoint(layer, torch.randn(2, 4), use_reentrant=False)\n"
    )
    fix_applicability = "safe"

    def check(self, ctx: Context):
        if "checkpoint" not in ctx.source:
            return
        for call in calls_of(ctx, CHECKPOINT_FUNCS):
            # use_reentrant is keyword-only: `*inputs` cannot carry it, `**kwargs` may
            if keyword(call, "use_reentrant") is not None or any(kw.arg is None for kw in call.keywords):
                continue
            fix = None
            if call.args and not isinstance(call.args[-1], ast.GeneratorExp):
                edit = append_keyword_argument(ctx, call, "use_reentrant=False")
                if edit is not None:
                    fix = self.make_fix("add `use_reentrant=False`", [edit])
            yield self.report(ctx, call, fix=fix)
