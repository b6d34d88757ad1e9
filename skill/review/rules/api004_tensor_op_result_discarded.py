"""PT-API004 tensor-op-result-discarded."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import is_model_expr, model_names
from ._api_common import is_known_tensor
from .dev005_to_result_discarded import _tensor_parameter

# out-of-place tensor methods: they return a new tensor and change nothing (their in-place twin ends in `_`)
PURE_METHODS = {
    "view", "reshape", "unsqueeze", "squeeze", "permute", "transpose", "flatten", "unflatten", "expand", "repeat",
    "clamp", "clip", "add", "sub", "mul", "div", "pow", "abs", "neg", "exp", "log", "sqrt", "sigmoid", "tanh", "relu",
    "softmax", "log_softmax", "masked_fill", "index_fill", "scatter", "t", "mean", "sum", "round", "floor", "ceil",
    "sign", "clamp_min", "clamp_max", "lerp", "where",
}
HAS_INPLACE = {
    "unsqueeze", "squeeze", "transpose", "t", "clamp", "clip", "add", "sub", "mul", "div", "pow", "abs", "neg", "exp",
    "log", "sqrt", "sigmoid", "tanh", "relu", "masked_fill", "index_fill", "scatter", "round", "floor", "ceil", "sign",
    "clamp_min", "clamp_max", "lerp",
}


class TensorOpResultDiscarded(Rule):
    code = "PT-API004"
    name = "tensor-op-result-discarded"
    severity = Severity.high
    summary = "An out-of-place tensor operation (`x.view(...)`, `x.clamp(0, 1)`, `x.add(y)`) as a statement: its result is thrown away"
    why = (
        "Tensor methods without a trailing underscore return a new tensor and leave the receiver unchanged. As a "
        "statement, `x.view(B, T, C)` or `w.clamp(-c, c)` does nothing: the code goes on with the old shape or the "
        "unclipped values, which either fails later far from the cause or silently trains on the wrong data (the "
        "intended weight clipping, masking or normalisation never happens)."
    )
    fix_text = "Assign the result (`x = x.view(B, T, C)`) or use the in-place method (`w.clamp_(-c, c)`)."
    bad = (
        "import torch\n\n"
        "def forward(x, seq_len, dim):\n"
        "    x.view(x.size(0), seq_len, dim)\n"
        "    return torch.relu(x)\n"
    )
    good = (
        "import torch\n\n"
        "def forward(x, seq_len, dim):\n"
        "    x = x.view(x.size(0), seq_len, dim)\n"
        "    return torch.relu(x)\n"
    )

    def check(self, ctx: Context):
        models = None
        for stmt in ctx.nodes(ast.Expr):
            call = stmt.value  # type: ignore[union-attr]
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
                continue
            if call.func.attr not in PURE_METHODS:
                continue
            recv = call.func.value
            if not isinstance(recv, (ast.Name, ast.Subscript)):
                continue  # `self.x.add(...)`, `pairs.add(...)` on other objects: unknown receivers
            if models is None:
                models = model_names(ctx)
            name = dotted(recv) if isinstance(recv, ast.Name) else None
            if name and (name in models or is_model_expr(ctx, recv)):
                continue
            if not (is_known_tensor(ctx, recv) or _tensor_parameter(ctx, recv)):
                continue
            text = ctx.segment(recv) or "the tensor"
            op = call.func.attr
            alt = f" or use the in-place `{text}.{op}_(...)`" if op in HAS_INPLACE else ""
            yield self.report(
                ctx, call,
                f"`{text}.{op}(...)` returns a new tensor and the result is discarded: `{text}` is unchanged; "
                f"assign it (`{text} = {text}.{op}(...)`){alt}",
            )
