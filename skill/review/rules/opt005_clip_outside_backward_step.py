"""PT-OPT005 clip-outside-backward-step: gradient clipping before `backward()` or after `step()`."""

from __future__ import annotations

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function
from ._trainloop import events, exclusive, site, training_loops


class ClipOutsideBackwardStep(Rule):
    code = "PT-OPT005"
    name = "clip-outside-backward-step"
    severity = Severity.high
    summary = "Gradients clipped before backward() or after step(): the clipping never touches the update"
    why = (
        "Clipping only limits the update when it runs between `backward()` (which writes this step's gradients) and "
        "`optimizer.step()` (which applies them). Before `backward()` it clips last step's (usually zeroed) gradients; "
        "after `step()` the update is already applied. Either way training runs unclipped and can diverge on a "
        "gradient spike the clipping was meant to absorb."
    )
    fix_text = "Call `clip_grad_norm_` after `loss.backward()` (after `scaler.unscale_(opt)` with AMP) and before `optimizer.step()`."
    bad = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
    )
    good = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "for x, y in loader:\n"
        "    optimizer.zero_grad()\n"
        "    loss = criterion(model(x), y)\n"
        "    loss.backward()\n"
        "    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "    optimizer.step()\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_gradients"):
            return
        reported: set[int] = set()
        for loop in training_loops(ctx):
            if is_test_function(ctx, ctx.enclosing_function(loop)):
                continue
            evs = events(ctx, loop)
            for c in (e for e in evs if e.kind == "clip"):
                if id(c.node) in reported:
                    continue
                live = [e for e in evs if e is not c and not exclusive(ctx, e, c)]
                backs_before = [e for e in live if e.kind == "backward" and e.key < c.key]
                steps_before = [e for e in live if e.kind in ("step", "scaler_step") and e.key < c.key]
                backs_after = [e for e in live if e.kind == "backward" and e.key > c.key]
                steps_after = [e for e in live if e.kind in ("step", "scaler_step") and e.key > c.key]
                if not backs_before and not steps_before and backs_after and any(
                    s.key > backs_after[0].key for s in steps_after
                ):
                    reported.add(id(c.node))
                    yield self.report(
                        ctx, site(ctx, c),
                        f"Gradients are clipped before `backward()` (line {backs_after[0].anchor.lineno}) writes this "
                        "step's gradients: the update is never clipped",
                    )
                elif steps_before and not steps_after and not any(b.key > steps_before[-1].key for b in backs_before):
                    reported.add(id(c.node))
                    yield self.report(
                        ctx, site(ctx, c),
                        f"Gradients are clipped after `step()` (line {steps_before[-1].anchor.lineno}) already applied "
                        "them: the update is never clipped",
                    )
