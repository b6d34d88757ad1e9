"""PT-AMP001 fp16-autocast-without-gradscaler."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value, receiver
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls, before

FP16_NAMES = {"float16", "half"}
OTHER_DTYPES = {"bfloat16", "float32", "float", "float64", "double"}
SCALER_CALLS = {"GradScaler", "ShardedGradScaler", "scale_loss"}


def autocast_dtype(ctx: Context, call: ast.Call) -> str | None:
    """'fp16', 'other', or None (unknown) for an autocast(...) call."""
    q = ctx.call_qualname(call) or ""
    dtype = kwarg_value(call, "dtype")
    if dtype is None and len(call.args) >= 2 and not q.startswith(("torch.cuda.amp", "torch.cpu.amp")):
        dtype = call.args[1]  # torch.autocast(device_type, dtype)
    if dtype is not None:
        return _dtype_kind(ctx, dtype)
    if q.startswith("torch.cuda.amp"):
        return "fp16"  # torch.cuda.amp.autocast() defaults to float16
    if q.startswith("torch.cpu.amp"):
        return "other"  # bfloat16 by default
    device = call.args[0] if call.args else kwarg_value(call, "device_type")
    if const_value(device) == "cuda":
        return "fp16"  # torch.autocast("cuda") defaults to float16
    return None


def _dtype_kind(ctx: Context, node: ast.AST, depth: int = 0) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "fp16" if node.value in FP16_NAMES else "other" if node.value in OTHER_DTYPES else None
    name = dotted(node)
    if name:
        last = name.rsplit(".", 1)[-1]
        if name.startswith(("torch.", "th.")) or "." in name:
            if last in FP16_NAMES:
                return "fp16"
            if last in OTHER_DTYPES:
                return "other"
        if isinstance(node, ast.Name) and depth < 2:
            values = [
                a.value for a in ctx.nodes(ast.Assign)
                if any(isinstance(t, ast.Name) and t.id == node.id for t in a.targets)  # type: ignore[union-attr]
            ]
            if len(values) == 1:
                return _dtype_kind(ctx, values[0], depth + 1)  # type: ignore[arg-type]
    return None


def autocast_withs(ctx: Context) -> list[tuple[ast.With, ast.Call]]:
    out = []
    for with_node in ctx.nodes(ast.With, ast.AsyncWith):
        for item in with_node.items:  # type: ignore[union-attr]
            expr = item.context_expr
            if isinstance(expr, ast.Call) and callee_name(expr) == "autocast":
                out.append((with_node, expr))
                break
    return out


def uses_grad_scaler(ctx: Context) -> bool:
    """A GradScaler is created or used anywhere (`scaler.scale(loss)`, a `scaler` parameter...)."""
    if ctx.calls(*SCALER_CALLS):
        return True
    for call in ctx.calls("scale", "unscale_"):
        name = dotted(receiver(call)) if receiver(call) is not None else None
        if name and "scaler" in name.lower():
            return True
    return any("scaler" in a.arg.lower() for a in ctx.nodes(ast.arg))  # type: ignore[union-attr]


def plain_backward(call: ast.Call) -> bool:
    """`loss.backward()` (not `accelerator.backward(loss)` / DeepSpeed `engine.backward(loss)`,
    which scale the loss themselves)."""
    return not call.args or dotted(call.func) in {"torch.autograd.backward", "autograd.backward"}


class Fp16AutocastWithoutGradScaler(Rule):
    code = "PT-AMP001"
    name = "fp16-autocast-without-gradscaler"
    severity = Severity.high
    summary = "Training under float16 autocast without a GradScaler"
    why = (
        "float16 has a narrow exponent range: small gradients underflow to zero in the backward pass "
        "unless the loss is scaled up first. Without `GradScaler` training silently stalls or diverges. "
        "bfloat16 has float32's range and needs no scaler."
    )
    fix_text = (
        "Create `scaler = torch.amp.GradScaler('cuda')` and use `scaler.scale(loss).backward(); "
        "scaler.step(optimizer); scaler.update()`, or autocast to torch.bfloat16."
    )
    bad = (
        "import torch\n\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    with torch.autocast('cuda', dtype=torch.float16):\n"
        "        loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
    )
    good = (
        "import torch\n\ntorch.manual_seed(0)\n\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    with torch.autocast('cuda', dtype=torch.float16):\n"
        "        loss = criterion(model(x), y)\n"
        "    scaler.scale(loss).backward()\n"
        "    scaler.step(optimizer)\n"
        "    scaler.update()\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("autocast") or not ctx.calls("backward"):
            return
        if uses_grad_scaler(ctx):
            return
        backs = [b for b in backward_calls(ctx) if plain_backward(b)]
        if not backs:
            return
        for with_node, call in autocast_withs(ctx):
            if const_value(kwarg_value(call, "enabled")) is False:
                continue
            if autocast_dtype(ctx, call) != "fp16":
                continue
            if any(self._reaches(ctx, with_node, b) for b in backs):
                yield self.report(ctx, with_node, whole=True)

    @staticmethod
    def _reaches(ctx: Context, with_node: ast.AST, back: ast.Call) -> bool:
        """Is `back` inside the autocast block, or after it in the same function / loop iteration?"""
        if ctx.enclosing_function(back) is not ctx.enclosing_function(with_node):
            return False
        if ctx.enclosing_class(back) is not ctx.enclosing_class(with_node):
            return False
        if ctx.is_inside(back, with_node):
            return True
        loops = ctx.loops_around(with_node)
        if loops and not ctx.is_inside(back, loops[0]):
            return False  # the autocast loop is over (e.g. an evaluation loop before the training one)
        back_loops = ctx.loops_around(back)
        if back_loops and not ctx.is_inside(with_node, back_loops[-1]):
            return False  # a one-off autocast block before the training loop
        if not before(with_node, back):
            return False
        # something computed under autocast feeds the backward
        made = {n.id for n in ast.walk(with_node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        scope = ctx.enclosing_function(back) or ctx.tree
        end = (with_node.end_lineno, back.end_lineno)  # type: ignore[attr-defined]
        return any(
            isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in made and end[0] < n.lineno <= end[1]
            for n in ast.walk(scope)
        )
