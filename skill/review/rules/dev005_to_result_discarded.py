"""PT-DEV005 to-result-discarded."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import is_model_expr, model_names
from ._api_common import _batch_parameter, binding_value, is_known_tensor, loop_binding

MOVING = {"to", "cuda", "cpu", "float", "half", "double", "long", "int", "bool", "bfloat16", "type", "contiguous", "pin_memory"}


TENSOR_PARAM_RE = re.compile(
    r"^(x|y|xb|yb|x_batch|y_batch|inputs?|targets?|labels?|images?|imgs?|input_ids|attention_mask|token_ids|tokens|"
    r"pixel_values|features|feats|logits|masks?|src|tgt|noise|latents?|waveforms?|audio|spectrograms?)$"
)


def _tensor_parameter(ctx: Context, recv: ast.AST) -> bool:
    """`def train_step(model, images, labels, ...)`: a parameter named like a batch tensor, not rebound before."""
    if not isinstance(recv, ast.Name) or not TENSOR_PARAM_RE.match(recv.id):
        return False
    fn = ctx.enclosing_function(recv)
    if fn is None or not any(a.arg == recv.id for a in fn.args.args + fn.args.kwonlyargs):
        return False
    return binding_value(ctx, recv) is None and loop_binding(ctx, recv.id, recv) is None


def _batch_entry(ctx: Context, recv: ast.AST) -> bool:
    """`batch[key].to(device)` where `batch` is the batch a step/helper function receives (`to_device(batch, dev)`)."""
    return isinstance(recv, ast.Subscript) and isinstance(recv.value, ast.Name) and _batch_parameter(ctx, recv.value)


class ToResultDiscarded(Rule):
    code = "PT-DEV005"
    name = "to-result-discarded"
    severity = Severity.high
    summary = "`tensor.to(device)` / `.cuda()` / `.float()` as a statement: the converted tensor is thrown away"
    why = (
        "Tensor.to(), .cuda() and .float() return a new tensor and leave the original untouched (only "
        "nn.Module.to() works in place), so the next line still uses the CPU / old-dtype tensor: a "
        "device-mismatch error at best, silently training on the CPU or in the wrong dtype at worst."
    )
    fix_text = "Assign the result: `x = x.to(device)` (modules may stay `model.to(device)`)."
    bad = "for x, y in loader:\n    x.to(device)\n    y.to(device)\n    loss = criterion(model(x), y)\n"
    good = "for x, y in loader:\n    x, y = x.to(device), y.to(device)\n    loss = criterion(model(x), y)\n"

    def check(self, ctx: Context):
        models = model_names(ctx)
        for stmt in ctx.nodes(ast.Expr):
            call = stmt.value  # type: ignore[union-attr]
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute) or call.func.attr not in MOVING:
                continue
            recv = call.func.value
            name = dotted(recv) if isinstance(recv, (ast.Name, ast.Attribute)) else None
            if name and (name in models or is_model_expr(ctx, recv)):
                continue
            if isinstance(recv, ast.Attribute) and not isinstance(recv.value, ast.Subscript):
                continue  # `self.buf.to(...)`: unknown, may be a module
            if not (is_known_tensor(ctx, recv) or _tensor_parameter(ctx, recv) or _batch_entry(ctx, recv)):
                continue
            text = ctx.segment(recv) or "the tensor"
            yield self.report(
                ctx, call,
                f"`{text}.{call.func.attr}(...)` returns a new tensor and the result is discarded: `{text}` is "
                f"unchanged; assign it (`{text} = {text}.{call.func.attr}(...)`)",
            )
