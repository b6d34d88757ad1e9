"""PT-API002 tensor-from-tensor."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from ._api_common import is_known_tensor


class TensorFromTensor(Rule):
    code = "PT-API002"
    name = "tensor-from-tensor"
    severity = Severity.low
    summary = "`torch.tensor(t)` on a value that is already a tensor"
    why = (
        "torch.tensor always copies and, given a tensor, warns 'To copy construct from a tensor, it is "
        "recommended to use sourceTensor.clone().detach()': the copy is cut from the autograd graph without "
        "saying so (gradients stop there) and costs a full copy each call, usually inside a loop."
    )
    fix_text = (
        "Use `t.clone().detach()` for an independent copy, `torch.as_tensor(t, dtype=...)` to convert without "
        "copying, or just `t.to(dtype)`."
    )
    bad = "import torch\n\nlogits = torch.randn(4, 10)\ntarget = torch.tensor(logits.argmax(dim=1))\n"
    good = "import torch\n\nlogits = torch.randn(4, 10)\ntarget = logits.argmax(dim=1).clone().detach()\n"

    def check(self, ctx: Context):
        for call in ctx.calls("tensor"):
            if ctx.call_qualname(call) != "torch.tensor" or not call.args:
                continue
            arg = call.args[0]
            if not self._tensor_arg(ctx, arg):
                continue
            yield self.report(
                ctx, call,
                "`torch.tensor()` on a tensor copies it, detaches it from the graph and warns: use "
                "`t.clone().detach()` or `torch.as_tensor(t)`",
            )

    @staticmethod
    def _tensor_arg(ctx: Context, arg: ast.AST) -> bool:
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in {
            "argmax", "argmin", "detach", "clone", "sum", "mean", "max", "min", "float", "long", "cpu", "cuda", "to",
            "view", "reshape", "squeeze", "unsqueeze", "softmax", "sigmoid", "flatten", "t", "permute",
        }:
            return is_known_tensor(ctx, arg.func.value, loader_items=False) or arg.func.attr in {"detach"}
        return is_known_tensor(ctx, arg, loader_items=False)
