"""PT-MODE003 functional-dropout-always-on."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, has_star_kwargs, keyword
from ..models import Edit, Severity
from ..rule import Rule, char_col
from ..semantics import is_module_like_class

# functional dropouts and the position of their `training` argument
FUNCTIONAL_DROPOUTS = {
    "torch.nn.functional.dropout": 2,
    "torch.nn.functional.dropout1d": 2,
    "torch.nn.functional.dropout2d": 2,
    "torch.nn.functional.dropout3d": 2,
    "torch.nn.functional.alpha_dropout": 2,
    "torch.nn.functional.feature_alpha_dropout": 2,
}
MC_NAME_RE = re.compile(r"(mc|monte|bayes|uncertain|stochastic)", re.IGNORECASE)


class FunctionalDropoutAlwaysOn(Rule):
    code = "PT-MODE003"
    name = "functional-dropout-always-on"
    severity = Severity.high
    summary = "`F.dropout` inside an nn.Module without `training=self.training` stays active after `model.eval()`"
    why = (
        "`torch.nn.functional.dropout` defaults to `training=True` and knows nothing about the module's "
        "mode: `model.eval()` does not turn it off, so evaluation and inference keep dropping about p of "
        "the activations and predictions become random."
    )
    fix_text = "Pass `training=self.training`, or use an `nn.Dropout` submodule (it follows train()/eval())."
    bad = (
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return F.dropout(self.fc(x), p=0.5)\n"
    )
    fix_applicability = "unsafe"  # changes behaviour in eval mode, which is the point
    good = (
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return F.dropout(self.fc(x), p=0.5, training=self.training)\n"
    )

    def check(self, ctx: Context):
        calls = ctx.calls("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
        for call in calls:
            q = ctx.call_qualname(call)
            pos = FUNCTIONAL_DROPOUTS.get(q or "")
            if pos is None or len(call.args) > pos or keyword(call, "training") is not None or has_star_kwargs(call):
                continue
            cls = ctx.enclosing_class(call)
            if cls is None or MC_NAME_RE.search(cls.name):
                continue
            if not is_module_like_class(ctx, cls):
                continue  # (a class with forward() whose base is imported from elsewhere counts as a module)
            fn = ctx.enclosing_function(call)
            if fn is not None and MC_NAME_RE.search(fn.name):
                continue
            if fn is not None and fn.name != "forward" and self._rate_is_argument(call, fn):
                continue  # `p_sample(..., noise_dropout=0.)`: the caller asks for this dropout at call time
            yield self.report(ctx, call, fix=self._fix(ctx, call, fn))

    @staticmethod
    def _rate_is_argument(call: ast.Call, fn: ast.AST) -> bool:
        """The dropout rate is a parameter of the (non-forward) method it runs in, not the module's setting."""
        rate = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "p"), None)
        args = getattr(fn, "args", None)
        if not isinstance(rate, ast.Name) or args is None:
            return False
        return rate.id in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)} - {"self"}

    def _fix(self, ctx: Context, call: ast.Call, fn: ast.AST | None):
        """Append `training=self.training` after the last argument (only where `self` is the module)."""
        params = getattr(getattr(fn, "args", None), "args", [])
        if not params or params[0].arg != "self" or not (call.args or call.keywords):
            return None
        last = max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset))
        line, col = last.end_lineno, char_col(ctx, last.end_lineno, last.end_col_offset)
        edit = Edit(line=line, col=col + 1, end_line=line, end_col=col + 1, content=", training=self.training")
        return self.make_fix("pass `training=self.training`", [edit])
