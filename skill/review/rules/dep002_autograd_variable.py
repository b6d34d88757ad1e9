"""PT-DEP002 autograd-variable."""

from __future__ import annotations

from ..analysis import Context, is_true, keyword
from ..models import Severity
from ..rule import Rule
from ..semantics import calls_of

VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})


class AutogradVariable(Rule):
    code = "PT-DEP002"
    name = "autograd-variable"
    severity = Severity.low
    summary = "`torch.autograd.Variable` is a no-op wrapper since PyTorch 0.4"
    why = (
        "Tensors carry autograd state themselves since 0.4; `Variable(t)` just returns a tensor. "
        "`volatile=True` is ignored with a warning, so code that relied on it to disable gradient "
        "tracking now builds graphs and wastes memory during evaluation."
    )
    fix_text = (
        "Use the tensor directly (`t.requires_grad_()` if it needs gradients) and wrap evaluation in "
        "`torch.no_grad()` instead of `volatile=True`."
    )
    bad = "import torch\nfrom torch.autograd import Variable\n\nx = Variable(torch.randn(2, 3), volatile=True)\n"
    good = "import torch\n\nwith torch.no_grad():\n    x = torch.randn(2, 3)\n"

    def check(self, ctx: Context):
        if "Variable" not in ctx.source:
            return
        for call in calls_of(ctx, VARIABLE):
            volatile = keyword(call, "volatile")
            msg = self.summary
            if volatile is not None and is_true(volatile.value):
                msg += "; `volatile=True` is ignored (gradients are still tracked: use `torch.no_grad()`)"
            yield self.report(ctx, call, msg)
