"""PT-AMP002 clip-before-unscale."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, kwarg_value, receiver
from ..models import Severity
from ..rule import Rule
from ..semantics import before, mutually_exclusive

CLIP_CALLS = ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm")


def scaled_backwards(ctx: Context) -> list[ast.Call]:
    """`scaler.scale(loss).backward()` calls (also via `scaled = scaler.scale(loss); scaled.backward()`)."""
    out = []
    scaled_names: set[str] = set()
    for call in ctx.calls("scale"):
        stmt = ctx.statement_of(call)
        if isinstance(stmt, ast.Assign) and stmt.value is call:
            scaled_names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    for call in ctx.calls("backward"):
        recv = receiver(call)
        if isinstance(recv, ast.Call) and callee_name(recv) == "scale" or isinstance(recv, ast.Name) and recv.id in scaled_names:
            out.append(call)
    return out


def is_torch_clip(ctx: Context, call: ast.Call) -> bool:
    """torch.nn.utils.clip_grad_*; not `accelerator.clip_grad_norm_` / `fabric.clip_gradients`, which
    unscale first, nor FSDP's `model.clip_grad_norm_`."""
    q = ctx.call_qualname(call) or ""
    return q.startswith(("torch.nn.utils", "nn.utils")) or isinstance(call.func, ast.Name)


class ClipBeforeUnscale(Rule):
    code = "PT-AMP002"
    name = "clip-before-unscale"
    severity = Severity.high
    summary = "Gradients clipped while still multiplied by the GradScaler's loss scale"
    why = (
        "After `scaler.scale(loss).backward()` every gradient is multiplied by the loss scale (2**16 at "
        "the start). Clipping them before `scaler.unscale_(optimizer)` compares the threshold with the "
        "scaled norm, so nearly every step is clipped to a tiny update."
    )
    fix_text = "Call `scaler.unscale_(optimizer)` right before clipping; `scaler.step` then skips the second unscale."
    bad = (
        "import torch\n\n"
        "scaler = torch.amp.GradScaler('cuda')\n"
        "for x, y in loader:\n"
        "    with torch.autocast('cuda', dtype=torch.float16):\n"
        "        loss = criterion(model(x), y)\n"
        "    optimizer.zero_grad()\n"
        "    scaler.scale(loss).backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    scaler.step(optimizer)\n"
        "    scaler.update()\n"
    )
    good = bad.replace(
        "    torch.nn.utils.clip_grad_norm_", "    scaler.unscale_(optimizer)\n    torch.nn.utils.clip_grad_norm_"
    ).replace("import torch\n", "import torch\n\ntorch.manual_seed(0)\n", 1)

    def check(self, ctx: Context):
        clips = ctx.calls(*CLIP_CALLS)
        if not clips or not ctx.calls("scale"):
            return
        backs = scaled_backwards(ctx)
        if not backs or _scaler_disabled(ctx):
            return
        for clip in clips:
            if not is_torch_clip(ctx, clip):
                continue
            fn = ctx.enclosing_function(clip)
            feeding = [
                b for b in backs
                if ctx.enclosing_function(b) is fn and before(b, clip) and not mutually_exclusive(ctx, b, clip)
            ]
            if not feeding:
                if fn is None or self._unscaled_before(ctx, fn, clip) or not self._helper_after_scaled_backward(ctx, fn, backs):
                    continue
                yield self.report(ctx, clip)  # a clipping helper called on scaled gradients
                continue
            if self._unscaled_before(ctx, fn, clip):
                continue
            yield self.report(ctx, clip)

    def _helper_after_scaled_backward(self, ctx: Context, helper: ast.AST, backs: list[ast.Call]) -> bool:
        """Is `helper` called right after `scaler.scale(loss).backward()`, with no unscale_ in between?"""
        for site in ctx.calls(helper.name):  # type: ignore[attr-defined]
            caller = ctx.enclosing_function(site)
            if caller is helper:
                continue
            feeds = any(
                ctx.enclosing_function(b) is caller and before(b, site) and not mutually_exclusive(ctx, b, site)
                for b in backs
            )
            if feeds and not self._unscaled_before(ctx, caller, site):
                return True
        return False

    @staticmethod
    def _unscaled_before(ctx: Context, fn: ast.AST | None, clip: ast.Call) -> bool:
        """An `unscale_` call (or a helper named like one) before the clip in the same function."""
        for name, calls in ctx.calls_by_name.items():
            if "unscale" not in name.lower():
                continue
            for call in calls:
                if ctx.enclosing_function(call) is fn and before(call, clip):
                    return True
        return False


def _scaler_disabled(ctx: Context) -> bool:
    """Every GradScaler in the file is built with enabled=False."""
    scalers = ctx.calls("GradScaler", "ShardedGradScaler")
    return bool(scalers) and all(const_value(kwarg_value(c, "enabled")) is False for c in scalers)
