"""PT-LOSS003 activation-before-logits-loss: ReLU/sigmoid output into cross-entropy, an activation into
BCEWithLogitsLoss. (Softmax into cross-entropy is PT-LOSS001; sigmoid into BCELoss is PT-LOSS002.)"""

from __future__ import annotations

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from .loss001_softmax_before_cross_entropy import activation_origin, elsewhere, foreign, loss_calls, loss_input

# (loss function, loss class, activations that must not precede it)
CHECKS = (
    ("cross_entropy", "CrossEntropyLoss", ("relu", "sigmoid")),
    ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", ("sigmoid", "softmax", "relu")),
)
EFFECT = {
    "relu": "every negative logit is clamped to 0 (with zero gradient), so the model cannot push a wrong class down",
    "sigmoid": "the logits are squashed into (0, 1), so the loss can never get near zero and its gradients vanish",
    "softmax": "the logits are squashed into (0, 1) and tied together, so the loss can never get near zero",
}


class ActivationBeforeLogitsLoss(Rule):
    code = "PT-LOSS003"
    name = "activation-before-logits-loss"
    severity = Severity.high
    summary = "A ReLU / sigmoid / softmax output fed to a loss that expects raw logits"
    why = (
        "`CrossEntropyLoss` and `BCEWithLogitsLoss` apply (log-)softmax / sigmoid themselves and expect "
        "unbounded logits. A final ReLU clamps negative logits to zero with zero gradient; a sigmoid bounds them "
        "to (0, 1), so the loss plateaus far from zero and the model trains badly while nothing errors."
    )
    fix_text = "End the model with the linear layer; apply the activation only when reporting probabilities."
    bad = (
        "import torch.nn as nn\n\n"
        "model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10), nn.ReLU())\n"
        "criterion = nn.CrossEntropyLoss()\n"
        "loss = criterion(model(x), y)\n"
        "loss.backward()\n"
    )
    good = (
        "import torch.nn as nn\n\n"
        "model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))\n"
        "criterion = nn.CrossEntropyLoss()\n"
        "loss = criterion(model(x), y)\n"
        "loss.backward()\n"
    )

    def check(self, ctx: Context):
        reported: set[int] = set()
        for fn_name, cls_name, kinds in CHECKS:
            if not (ctx.calls(fn_name) or ctx.calls(cls_name)):
                continue
            for call, _ctor in loss_calls(ctx, fn_name, cls_name):
                for kind in kinds:
                    origin = activation_origin(ctx, loss_input(call), kind)
                    if origin is None or id(origin.node) in reported or foreign(ctx, origin.node):
                        continue
                    reported.add(id(origin.node))
                    loss = cls_name if _ctor is not call else f"F.{fn_name}"
                    if origin.home is not None and origin.home is not ctx:
                        yield self.report(ctx, call, (
                            f"the model's forward ends in {kind} ({elsewhere(origin)}) and its output reaches this "
                            f"{loss}, which expects raw logits: {EFFECT[kind]}"))
                        break
                    yield self.report(
                        ctx, origin.node,
                        f"{kind} output reaches {loss} on line {call.lineno}, which expects raw logits: {EFFECT[kind]}",
                    )
                    break
