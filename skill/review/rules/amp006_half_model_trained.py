"""PT-AMP006 half-model-trained."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls, is_model_expr

FP16 = {"torch.float16", "torch.half"}
OPTIMIZERS = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS", "Lion", "Adafactor"}
MASTER_WEIGHT_MARKERS = ("FP16_Optimizer", "amp.initialize", "master_params", "MixedPrecisionOptimizer", "bnb.optim",
                         "deepspeed", "fp32_master", "master_weights")


def _half_target(ctx: Context, call: ast.Call) -> str | None:
    """The model name `m` in `m.half()`, `m.to(torch.float16)`, `m.to(device, dtype=torch.half)`."""
    if not isinstance(call.func, ast.Attribute):
        return None
    recv = call.func.value
    while isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute) and recv.func.attr in {"to", "cuda"}:
        recv = recv.func.value
    name = dotted(recv)
    if callee_name(call) == "half" and not call.args:
        pass
    elif callee_name(call) == "to":
        dtypes = [*call.args, *(k.value for k in call.keywords if k.arg == "dtype")]
        if not any(ctx.qualname(d) in FP16 for d in dtypes):
            return None
    else:
        return None
    return name if name and is_model_expr(ctx, recv) else None


class HalfModelTrained(Rule):
    code = "PT-AMP006"
    name = "half-model-trained"
    severity = Severity.high
    summary = "The model is cast to fp16 (`model.half()`) and then trained with an optimizer"
    why = (
        "With fp16 parameters the optimizer updates fp16 weights: an update smaller than about 1/1000 of "
        "the weight (lr * grad is usually far smaller) rounds to nothing, Adam's epsilon (1e-8) underflows "
        "to zero, and small gradients flush to zero without a loss scale, so training stalls or diverges. "
        "Mixed precision keeps fp32 master weights and casts per op."
    )
    fix_text = (
        "Keep the model in fp32 and train under `torch.autocast('cuda', dtype=torch.float16)` with "
        "`torch.amp.GradScaler('cuda')` (or use bf16 autocast, which needs no scaler)."
    )
    bad = (
        "import torch\n\nmodel = Net().cuda().half()\noptimizer = torch.optim.Adam(model.parameters(), lr=1e-4)\n"
        "for x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x.cuda().half()), y.cuda())\n"
        "    loss.backward()\n    optimizer.step()\n"
    )
    good = (
        "import torch\n\ndef train(model, loader, criterion, device):\n    model = model.to(device)\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)\n    scaler = torch.amp.GradScaler(device.type)\n"
        "    for x, y in loader:\n        optimizer.zero_grad()\n"
        "        with torch.autocast(device.type, dtype=torch.float16):\n"
        "            loss = criterion(model(x.to(device)), y.to(device))\n"
        "        scaler.scale(loss).backward()\n        scaler.step(optimizer)\n        scaler.update()\n"
    )

    def check(self, ctx: Context):
        if not backward_calls(ctx) or any(m in ctx.source for m in MASTER_WEIGHT_MARKERS):
            return
        optimized = self._optimized_models(ctx)
        if not optimized:
            return
        for call in ctx.calls("half", "to"):
            name = _half_target(ctx, call)
            if name is None:
                stmt = ctx.statement_of(call)
                # `model = Net().cuda().half()`
                if isinstance(stmt, ast.Assign) and stmt.value is call and callee_name(call) == "half" and not call.args:
                    t = dotted(stmt.targets[0]) if len(stmt.targets) == 1 else None
                    if t in optimized and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call):
                        name = t
                if name is None:
                    continue
            if name not in optimized or self._cast_back(ctx, name, call):
                continue
            yield self.report(
                ctx, call,
                f"`{name}` is cast to fp16 and then trained: the optimizer updates fp16 weights, where small updates "
                "round to zero; keep fp32 weights and use autocast + GradScaler",
            )

    @staticmethod
    def _optimized_models(ctx: Context) -> set[str]:
        """Model names whose parameters an optimizer is built over."""
        out: set[str] = set()
        for name in OPTIMIZERS:
            for call in ctx.calls(name):
                for a in [*call.args[:1], *(k.value for k in call.keywords if k.arg == "params")]:
                    for n in ast.walk(a):
                        if isinstance(n, ast.Call) and callee_name(n) in {"parameters", "named_parameters"} and isinstance(n.func, ast.Attribute):
                            d = dotted(n.func.value)
                            if d:
                                out.add(d)
        return out

    @staticmethod
    def _cast_back(ctx: Context, name: str, after: ast.AST) -> bool:
        for c in ctx.calls("float", "to"):
            if isinstance(c.func, ast.Attribute) and dotted(c.func.value) == name and (c.lineno, c.col_offset) > (after.lineno, after.col_offset):  # type: ignore[attr-defined]
                if callee_name(c) == "float" or any(ctx.qualname(a) in {"torch.float32", "torch.float"} for a in c.args):
                    return True
        return False
