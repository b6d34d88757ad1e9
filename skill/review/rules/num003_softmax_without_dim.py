"""PT-NUM003 softmax-without-dim."""

from __future__ import annotations


from ..analysis import Context, const_value, has_star_kwargs, keyword
from ..models import Severity
from ..rule import Rule

FUNCTIONAL = {"softmax", "log_softmax", "softmin"}
MODULES = {"Softmax", "LogSoftmax", "Softmin"}


class SoftmaxWithoutDim(Rule):
    code = "PT-NUM003"
    name = "softmax-without-dim"
    severity = Severity.medium
    summary = "softmax / log_softmax without `dim`: torch guesses the axis"
    why = (
        "Without `dim`, F.softmax and nn.Softmax pick dim=0 for 0-, 1- and 3-D inputs and dim=1 otherwise "
        "(with a deprecation warning): for a (seq, batch, vocab) or unbatched input that normalises over the "
        "wrong axis, so the probabilities sum to one across samples or time steps instead of classes."
    )
    fix_text = "Always pass the class axis: `F.softmax(logits, dim=-1)`, `nn.Softmax(dim=1)`."
    bad = "import torch.nn.functional as F\n\nprobs = F.softmax(logits)\n"
    good = "import torch.nn.functional as F\n\nprobs = F.softmax(logits, dim=-1)\n"

    def check(self, ctx: Context):
        for call in ctx.calls(*FUNCTIONAL, *MODULES):
            if has_star_kwargs(call):
                continue
            q = ctx.call_qualname(call) or ""
            mod, _, last = q.rpartition(".")
            if mod == "torch.nn.functional" and last in FUNCTIONAL:
                pos_dim = 1
            elif mod == "torch.nn" and last in MODULES:
                pos_dim = 0
            else:
                continue  # torch.softmax(x) and x.softmax() raise without dim: nothing silent
            dim_kw = keyword(call, "dim")
            if dim_kw is not None and const_value(dim_kw.value, default=0) is not None:
                continue
            if dim_kw is None and len(call.args) > pos_dim and const_value(call.args[pos_dim], default=0) is not None:
                continue
            if mod == "torch.nn.functional" and not call.args and dim_kw is None and keyword(call, "input") is None:
                continue
            kind = f"F.{last}" if mod == "torch.nn.functional" else f"nn.{last}"
            yield self.report(
                ctx, call,
                f"`{kind}` without `dim` normalises over an axis torch guesses from the input's rank "
                "(dim=0 for 1-D and 3-D inputs), often not the class axis",
            )
