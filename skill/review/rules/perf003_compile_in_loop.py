"""PT-PERF003 compile-in-loop."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from ..semantics import DATAISH_RE, backward_calls, is_training_loop, loop_iter_text


class CompileInLoop(Rule):
    code = "PT-PERF003"
    name = "compile-in-loop"
    severity = Severity.medium
    summary = "`torch.compile(...)` called inside the step loop"
    why = (
        "torch.compile returns a new wrapper each call; calling it per batch re-traces (and may recompile) "
        "every step, so the loop runs slower than eager, and each new wrapper can keep compiled graphs alive "
        "until the recompile limit is hit, after which torch logs one warning and runs that code eagerly."
    )
    fix_text = "Compile once before the loop (`model = torch.compile(model)`) and call the compiled model inside it."
    bad = (
        "import torch\n\nfor x, y in loader:\n    fast = torch.compile(model)\n    loss = loss_fn(fast(x), y)\n"
        "    loss.backward()\n"
    )
    good = (
        "import torch\n\nfast = torch.compile(model)\nfor x, y in loader:\n    loss = loss_fn(fast(x), y)\n"
        "    loss.backward()\n"
    )

    def check(self, ctx: Context):
        for call in ctx.calls("compile"):
            if ctx.call_qualname(call) != "torch.compile":
                continue
            loops = ctx.loops_around(call)
            if not loops:
                continue
            loop = loops[0]
            step_loop = any(ctx.loops_around(b)[:1] == [loop] for b in backward_calls(ctx) if ctx.is_inside(b, loop))
            data_loop = not is_training_loop(ctx, loop) and bool(DATAISH_RE.search(loop_iter_text(loop)))
            if not (step_loop or data_loop):
                continue  # once per model / per compile mode / per epoch: dynamo's cache makes that cheap
            if self._guarded(ctx, call, loop):
                continue
            yield self.report(
                ctx, call,
                "`torch.compile` inside the step loop builds a new compiled wrapper every iteration: compile once "
                "before the loop",
            )

    @staticmethod
    def _guarded(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """Compiled once under a condition (`if compiled is None:`, `if epoch == warmup:`)."""
        for anc in ctx.ancestors(call):
            if anc is loop:
                return False
            if isinstance(anc, (ast.If, ast.IfExp, ast.Try)):
                return True
        return False
