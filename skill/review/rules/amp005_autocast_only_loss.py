"""PT-AMP005 autocast-only-loss."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import is_loss_call, model_call_key

AUTOCAST = {"torch.autocast", "torch.amp.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast",
            "torch.amp.autocast_mode.autocast"}


def autocast_item(ctx: Context, with_node: ast.With) -> ast.Call | None:
    for item in with_node.items:
        e = item.context_expr
        if isinstance(e, ast.Call):
            q = ctx.call_qualname(e) or ""
            if q in AUTOCAST or (callee_name(e) == "autocast" and q.endswith("autocast")):
                if const_value(kwarg_value(e, "enabled"), default=True) is False:
                    return None
                return e
    return None


class AutocastOnlyLoss(Rule):
    code = "PT-AMP005"
    name = "autocast-only-loss"
    severity = Severity.medium
    summary = "`autocast` wraps only the loss; the model's forward runs outside it in full precision"
    why = (
        "autocast changes the dtype of the ops run inside the block. With only the loss inside, the forward "
        "pass (where all the matmuls and convolutions are) runs in fp32: no speed-up and no memory saving, "
        "while the GradScaler and the mixed-precision flags make the run look like AMP training."
    )
    fix_text = (
        "Put the forward pass and the loss in the block: `with torch.autocast('cuda', dtype=torch.float16): "
        "out = model(x); loss = criterion(out, y)`, and call backward outside it."
    )
    bad = (
        "import torch\n\nfor x, y in loader:\n    optimizer.zero_grad()\n    out = model(x)\n"
        "    with torch.autocast('cuda', dtype=torch.float16):\n        loss = criterion(out, y)\n"
        "    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n    scaler.update()\n"
    )
    good = (
        "import torch\n\ndef train(model, loader, optimizer, scaler, criterion):\n    for x, y in loader:\n"
        "        optimizer.zero_grad()\n        with torch.autocast('cuda', dtype=torch.float16):\n"
        "            out = model(x)\n            loss = criterion(out, y)\n"
        "        scaler.scale(loss).backward()\n        scaler.step(optimizer)\n        scaler.update()\n"
    )

    def check(self, ctx: Context):
        if "autocast" not in ctx.source:
            return
        for w in ctx.nodes(ast.With, ast.AsyncWith):
            ac = autocast_item(ctx, w)  # type: ignore[arg-type]
            if ac is None or self._inside_autocast(ctx, w):
                continue
            calls = [n for s in w.body for n in ast.walk(s) if isinstance(n, ast.Call)]  # type: ignore[union-attr]
            if any(model_call_key(ctx, c) for c in calls) or not any(is_loss_call(ctx, c) for c in calls):
                continue
            if any(isinstance(n, ast.Call) and callee_name(n) == "forward" for n in calls):
                continue
            used = {n.id for s in w.body for n in ast.walk(s) if isinstance(n, ast.Name)}  # type: ignore[union-attr]
            fwd = self._forward_outside(ctx, w, used)
            if fwd is None:
                continue
            yield self.report_at(
                ctx, w.lineno, w.col_offset,  # type: ignore[attr-defined]
                f"autocast wraps only the loss; the forward pass on line {fwd.lineno} runs outside it in fp32, so "
                "mixed precision gives no speed or memory benefit: put the forward inside the block",
            )

    @staticmethod
    def _inside_autocast(ctx: Context, node: ast.AST) -> bool:
        """Nested in an outer autocast block, or in a function decorated with autocast."""
        for anc in ctx.ancestors(node):
            if isinstance(anc, (ast.With, ast.AsyncWith)) and autocast_item(ctx, anc) is not None:
                return True
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return any("autocast" in ast.dump(d) for d in anc.decorator_list)
        return False

    def _forward_outside(self, ctx: Context, w: ast.AST, used: set[str]) -> ast.stmt | None:
        """A model call before the block, in the same function, whose result the block reads."""
        parent = ctx.parent(w)
        body = None
        for field in ("body", "orelse", "finalbody"):
            seq = getattr(parent, field, None)
            if isinstance(seq, list) and w in seq:
                body = seq
        if body is None:
            return None
        for stmt in reversed(body[: body.index(w)]):
            if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or not isinstance(stmt.value, ast.Call):
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if names & used and model_call_key(ctx, stmt.value) and not self._inside_autocast(ctx, stmt):
                return stmt
        return None
