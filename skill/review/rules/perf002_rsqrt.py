"""PT-PERF002 rsqrt."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Edit, Severity
from ..rule import Rule, char_col, replace_node


class Rsqrt(Rule):
    code = "PT-PERF002"
    name = "rsqrt"
    severity = Severity.info
    default_enabled = False  # style / micro-performance: opt-in (select it by code)
    summary = "`a / torch.sqrt(b)` computes a square root and a division; `a * torch.rsqrt(b)` is a reciprocal square root and a multiply"
    why = (
        "`a * torch.rsqrt(b)` is still two ops (rsqrt, then multiply) instead of sqrt and divide: about 1.06x "
        "faster on CPU (measured with torch 2.13 on a 2-core box) and not bit-identical to `a / torch.sqrt(b)`. "
        "A micro-optimisation for hot custom kernels only."
    )
    fix_text = "Write `a * torch.rsqrt(b)`."
    bad = "import torch\n\ny = a / torch.sqrt(v)\n"
    good = "import torch\n\ny = a * torch.rsqrt(v)\n"
    fix_applicability = "unsafe"  # the last bits of the result can differ

    def check(self, ctx: Context):
        if not ctx.calls("sqrt"):
            return
        for node in ctx.nodes(ast.BinOp, ast.AugAssign):
            right = node.value if isinstance(node, ast.AugAssign) else node.right  # type: ignore[union-attr]
            if not isinstance(node.op, ast.Div) or not isinstance(right, ast.Call):  # type: ignore[union-attr]
                continue
            if ctx.call_qualname(right) != "torch.sqrt" or len(right.args) != 1 or right.keywords:
                continue
            yield self.report(ctx, right, fix=self._fix(ctx, node, right))

    def _fix(self, ctx: Context, node: ast.AST, sqrt: ast.Call):
        left = node.target if isinstance(node, ast.AugAssign) else node.left  # type: ignore[union-attr]
        if left.end_lineno != sqrt.lineno:
            return None
        line = ctx.line_text(sqrt.lineno)
        start, end = char_col(ctx, sqrt.lineno, left.end_col_offset), char_col(ctx, sqrt.lineno, sqrt.col_offset)
        gap = line[start:end]
        op = "/=" if isinstance(node, ast.AugAssign) else "/"
        if gap.count("/") != 1 or "#" in gap:
            return None
        col = start + gap.index(op)
        func = ctx.segment(sqrt.func)
        if not func.endswith("sqrt"):
            return None
        return self.make_fix(
            "use torch.rsqrt",
            [
                Edit(line=sqrt.lineno, col=col + 1, end_line=sqrt.lineno, end_col=col + 2, content="*"),
                replace_node(ctx, sqrt.func, func[: -len("sqrt")] + "rsqrt"),
            ],
        )
