"""PT-GRAD003 zero-grad-set-to-none-false."""

from __future__ import annotations

from ..analysis import Context, const_value, keyword
from ..models import Edit, Severity
from ..rule import Rule, char_col


class ZeroGradSetToNoneFalse(Rule):
    code = "PT-GRAD003"
    name = "zero-grad-set-to-none-false"
    severity = Severity.low
    summary = "`zero_grad(set_to_none=False)` fills gradients with zeros instead of freeing them"
    why = (
        "Setting gradients to None frees their memory and lets the next backward write instead of add, "
        "saving a memset and a read per parameter. `set_to_none=True` has been the default since "
        "PyTorch 2.0, so `set_to_none=False` opts out of that for no benefit unless code reads `.grad` "
        "right after zeroing."
    )
    fix_text = "Call `optimizer.zero_grad()` (set_to_none=True is the default)."
    bad = "optimizer.zero_grad(set_to_none=False)\n"
    good = "optimizer.zero_grad()  # set_to_none=True by default\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        for call in ctx.calls("zero_grad"):
            kw = keyword(call, "set_to_none")
            if kw is None or const_value(kw.value) is not False:
                continue
            fix = None
            if not call.args and len(call.keywords) == 1:
                # drop everything between the parentheses: `zero_grad(set_to_none=False)` -> `zero_grad()`
                end_line, end_col = call.end_lineno, char_col(ctx, call.end_lineno, call.end_col_offset)
                open_line, open_col = call.func.end_lineno, char_col(ctx, call.func.end_lineno, call.func.end_col_offset)
                fix = self.make_fix(
                    "remove `set_to_none=False`",
                    [Edit(line=open_line, col=open_col + 1, end_line=end_line, end_col=end_col + 1, content="()")],
                )
            yield self.report(ctx, call, fix=fix)
