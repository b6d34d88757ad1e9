"""PT-IO009 weights-only-false."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, const_value, dotted, keyword
from ..models import Severity
from ..rule import Rule
from ..semantics import TEST_FILE_RE, TORCH_LOAD, calls_of, is_torch_load


MODULE_USE = {"eval", "train", "state_dict", "parameters", "named_parameters", "modules", "forward", "cuda", "half"}
TRUSTED_RE = re.compile(r"#.*\b(trusted|our own|we wrote|written by (us|our))\b", re.I)


class WeightsOnlyFalse(Rule):
    code = "PT-IO009"
    name = "weights-only-false"
    severity = Severity.high
    summary = "`torch.load(..., weights_only=False)` unpickles the file and runs any code it contains"
    why = (
        "With weights_only=False torch.load is plain pickle: a checkpoint downloaded from a hub, a shared "
        "drive or a colleague can execute arbitrary code on the machine that loads it. Checkpoints of "
        "tensors, dicts, lists, numbers and strings load with weights_only=True; other classes can be "
        "allowed one by one with `torch.serialization.add_safe_globals`."
    )
    fix_text = (
        "Use `weights_only=True` (the default since torch 2.6) and allow the few extra classes the "
        "checkpoint holds with `torch.serialization.add_safe_globals([...])` or the `safe_globals` context manager."
    )
    bad = "import torch\n\nckpt = torch.load(path, map_location='cpu', weights_only=False)\n"
    good = "import torch\n\nckpt = torch.load(path, map_location='cpu', weights_only=True)\n"

    def check(self, ctx: Context):
        if "weights_only" not in ctx.source or TEST_FILE_RE.search(ctx.filename):
            return  # tests load the files they wrote themselves
        for call in calls_of(ctx, TORCH_LOAD):
            kw = keyword(call, "weights_only")
            if kw is None or const_value(kw.value) is not False or not is_torch_load(ctx, call):
                continue
            if self._whole_module_load(ctx, call) or self._documented_trusted(ctx, call):
                continue
            yield self.report(
                ctx, kw.value,
                "`torch.load(..., weights_only=False)` runs any pickled code in the file: load with "
                "weights_only=True and allow extra classes with `add_safe_globals`",
            )

    @staticmethod
    def _whole_module_load(ctx: Context, call: ast.Call) -> bool:
        """`model = torch.load(...)` then `model.eval()`: a pickled nn.Module, which only full unpickling
        can load (the fix is a different checkpoint format, not a keyword)."""
        stmt = ctx.statement_of(call)
        if not (isinstance(stmt, ast.Assign) and stmt.value is call and len(stmt.targets) == 1):
            return False
        name = dotted(stmt.targets[0])
        scope = ctx.enclosing_function(stmt)
        for c in ctx.calls(*MODULE_USE):
            if isinstance(c.func, ast.Attribute) and dotted(c.func.value) == name and ctx.enclosing_function(c) is scope:
                return True
        return False

    @staticmethod
    def _documented_trusted(ctx: Context, call: ast.Call) -> bool:
        """A comment on the call or the two lines above it says the file is trusted."""
        return any(TRUSTED_RE.search(ctx.line_text(n)) for n in range(call.lineno - 2, (call.end_lineno or call.lineno) + 1))
