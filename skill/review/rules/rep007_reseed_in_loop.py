"""PT-REP007 reseed-in-loop."""

from __future__ import annotations

import ast

from ..analysis import Context, names_in, target_names
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls

SEED_CALLS = {
    "torch.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all", "torch.random.manual_seed",
    "random.seed", "numpy.random.seed", "np.random.seed",
}
SEED_HELPERS = {"set_seed", "seed_everything", "set_random_seed", "setup_seed", "fix_seed", "seed_all"}


class ReseedInLoop(Rule):
    code = "PT-REP007"
    name = "reseed-in-loop"
    severity = Severity.high
    summary = "The RNG is re-seeded with the same seed inside the training step loop"
    why = (
        "Seeding with a constant every batch restarts the random stream at the same point, so every step "
        "draws the same dropout masks, the same augmentations and the same noise: the regularisation "
        "collapses to one fixed mask and the model overfits it, while the run looks reproducible."
    )
    fix_text = "Seed once before training; if a per-step stream is needed, derive the seed from the step (`seed + step`) or use a `torch.Generator`."
    bad = (
        "import torch\n\nfor x, y in loader:\n    torch.manual_seed(0)\n    loss = criterion(model(x), y)\n"
        "    loss.backward()\n    optimizer.step()\n"
    )
    good = (
        "import torch\n\ntorch.manual_seed(0)\nfor x, y in loader:\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n"
        "    loss.backward()\n    optimizer.step()\n"
    )

    def check(self, ctx: Context):
        if "seed" not in ctx.source:
            return
        for call in ctx.nodes(ast.Call):
            q = ctx.call_qualname(call) or ""  # type: ignore[arg-type]
            last = q.rsplit(".", 1)[-1]
            if q not in SEED_CALLS and last not in SEED_HELPERS:
                continue
            loops = ctx.loops_around(call)
            if not loops or not self._is_step_loop(ctx, loops[0]):
                continue  # once per epoch / per trial / in a sampling loop: intended
            loop_vars: set[str] = set()
            for lp in loops:
                if isinstance(lp, (ast.For, ast.AsyncFor)):
                    loop_vars.update(target_names(lp.target))
            args = {n for a in [*call.args, *(k.value for k in call.keywords)] for n in names_in(a)}  # type: ignore[union-attr]
            if args & loop_vars or self._rebound_in(ctx, args, loops[0]):
                continue  # `torch.manual_seed(seed + step)`: a different stream per step
            yield self.report(
                ctx, call,  # type: ignore[arg-type]
                "re-seeding with the same seed every step makes each batch draw the same dropout masks and "
                "augmentations: seed once before the loop",
            )

    @staticmethod
    def _is_step_loop(ctx: Context, loop: ast.AST) -> bool:
        """A loop that runs backward directly (not only through a nested batch loop)."""
        return any(ctx.loops_around(b)[:1] == [loop] for b in backward_calls(ctx) if ctx.is_inside(b, loop))

    @staticmethod
    def _rebound_in(ctx: Context, names: set[str], loop: ast.AST) -> bool:
        for n in ast.walk(loop):
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                if any(set(target_names(t)) & names for t in targets):
                    return True
        return False
