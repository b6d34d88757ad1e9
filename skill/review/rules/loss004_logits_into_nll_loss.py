"""PT-LOSS004 logits-into-nll-loss."""

from __future__ import annotations

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from .loss001_softmax_before_cross_entropy import activation_origin, elsewhere, foreign, loss_calls, loss_input


class LogitsIntoNllLoss(Rule):
    code = "PT-LOSS004"
    name = "logits-into-nll-loss"
    severity = Severity.high
    summary = "Raw logits (a Linear layer's output, no log_softmax) fed to `nll_loss` / `NLLLoss`"
    why = (
        "`nll_loss` expects log-probabilities and just returns `-input[target]`. On raw logits it is unbounded "
        "below: the model lowers the loss by inflating the target logit without limit instead of separating "
        "classes, and the loss goes to minus infinity."
    )
    fix_text = "Apply `F.log_softmax(logits, dim=1)` before `nll_loss`, or use `F.cross_entropy(logits, y)` instead."
    bad = (
        "import torch.nn as nn\n"
        "import torch.nn.functional as F\n\n"
        "head = nn.Linear(512, 10)\n"
        "logits = head(features)\n"
        "loss = F.nll_loss(logits, y)\n"
        "loss.backward()\n"
    )
    good = bad.replace("F.nll_loss(logits, y)", "F.nll_loss(F.log_softmax(logits, dim=1), y)")

    def check(self, ctx: Context):
        if not (ctx.calls("nll_loss") or ctx.calls("NLLLoss")):
            return
        reported: set[int] = set()
        for call, _ctor in loss_calls(ctx, "nll_loss", "NLLLoss"):
            origin = activation_origin(ctx, loss_input(call), "linear")
            if origin is None or id(call) in reported or foreign(ctx, origin.node):
                continue
            reported.add(id(call))
            yield self.report(
                ctx, call,
                f"nll_loss receives raw logits from the Linear layer on "
                f"{elsewhere(origin) if origin.home is not None and origin.home is not ctx else f'line {origin.node.lineno}'}"
                " (no log_softmax): "
                "the loss is unbounded below and training inflates the target logit instead of learning",
            )
