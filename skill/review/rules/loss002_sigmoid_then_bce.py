"""PT-LOSS002 sigmoid-then-bce."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from .loss001_softmax_before_cross_entropy import (
    activation_origin,
    loss_calls,
    loss_input,
    loss_target,
)

# Reconstruction targets are the model's own inputs (autoencoders, VAEs).
INPUT_NAMES = {"x", "data", "inputs", "input", "img", "imgs", "image", "images", "batch", "pixels", "x_in", "X"}
VAE_WORDS = ("reparameterize", "reparametrize", "logvar", "log_var", "kl_div", "kld")


def _root_name(node: ast.AST | None) -> str | None:
    """`x` for x, x.view(-1, 784), x[:, 0], x.float()."""
    while node is not None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return None  # batch["label"]: a field of the batch, not the input itself
        elif isinstance(node, ast.Attribute):
            return None  # batch.y, data.label: a field of the batch, not the input itself
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return None
    return None


class SigmoidThenBce(Rule):
    code = "PT-LOSS002"
    name = "sigmoid-then-bce"
    severity = Severity.medium
    summary = "sigmoid followed by BCELoss / binary_cross_entropy instead of the with-logits loss"
    why = (
        "Computing log(sigmoid(x)) in two steps loses precision: large logits saturate to exactly 0 or 1 "
        "and the loss clamps at 100 with zero gradient. BCEWithLogitsLoss fuses them with the "
        "log-sum-exp trick, and BCELoss is rejected under CUDA autocast."
    )
    fix_text = "Drop the sigmoid and use `nn.BCEWithLogitsLoss()` / `F.binary_cross_entropy_with_logits(logits, y)`."
    bad = (
        "import torch\n"
        "import torch.nn.functional as F\n\n"
        "logits = model(x)\n"
        "loss = F.binary_cross_entropy(torch.sigmoid(logits), y)\n"
        "loss.backward()\n"
    )
    good = (
        "import torch.nn.functional as F\n\n"
        "logits = model(x)\n"
        "loss = F.binary_cross_entropy_with_logits(logits, y)\n"
        "loss.backward()\n"
    )

    def check(self, ctx: Context):
        if not (ctx.calls("binary_cross_entropy") or ctx.calls("BCELoss")):
            return
        if not (ctx.calls("sigmoid") or ctx.calls("Sigmoid")):
            return
        vae_file = any(word in ctx.source for word in VAE_WORDS)
        reported: set[int] = set()
        for call, anchor in loss_calls(ctx, "binary_cross_entropy", "BCELoss"):
            if id(anchor) in reported:
                continue
            origin = activation_origin(ctx, loss_input(call), "sigmoid")
            if origin is None:
                continue
            target = _root_name(loss_target(call))
            model_inputs = {_root_name(a) for a in origin.model_args}
            if target is not None and (target in model_inputs or target in INPUT_NAMES or vae_file):
                continue  # reconstruction loss on a decoder's sigmoid output
            reported.add(id(anchor))
            yield self.report(ctx, anchor)
