"""PT-REP006 benchmark-with-seeding.

PT-REP003 reports `cudnn.benchmark = True` next to an explicit determinism request; this rule covers the
more common case of a script that only seeds (`torch.manual_seed`, a `set_seed` helper) for
reproducibility and turns benchmark mode on, and stays silent where PT-REP003 already reports.
"""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from .rep003_benchmark_with_determinism import _point_pairs, cudnn_flag_assignments, determinism_requests, same_path

TORCH_SEEDS = {"torch.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all", "torch.random.manual_seed"}
SEED_HELPERS = {"set_seed", "seed_everything", "set_random_seed", "setup_seed", "fix_seed", "seed_all", "init_seeds", "fix_random_seeds"}


def seed_calls(ctx: Context) -> list[ast.Call]:
    out = []
    for call in ctx.calls("manual_seed", "manual_seed_all", *SEED_HELPERS):
        q = ctx.call_qualname(call) or ""
        if q in TORCH_SEEDS or q.rsplit(".", 1)[-1] in SEED_HELPERS:
            out.append(call)
    return out


SPLIT_CALLS = {"randperm", "random_split", "permutation", "shuffle"}


def _split_seed(ctx: Context, call: ast.Call) -> bool:
    """`torch.manual_seed(0)` in an if-branch of a helper, right before a `randperm`/`random_split`: it fixes
    one data split (a hyper-parameter hold-out), not the run; the script asks for no reproducible training."""
    stmt = ctx.statement_of(call)
    fn = ctx.enclosing_function(call)
    if stmt is None or fn is None or not any(isinstance(a, ast.If) and ctx.is_inside(a, fn) for a in ctx.ancestors(stmt)):
        return False
    parent = ctx.parent(stmt)
    for field in ("body", "orelse"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and stmt in block:
            i = block.index(stmt)
            nxt = block[i + 1] if i + 1 < len(block) else None
            return nxt is not None and any(
                isinstance(n, ast.Call) and (n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")) in SPLIT_CALLS
                for n in ast.walk(nxt)
            )
    return False


class BenchmarkWithSeeding(Rule):
    code = "PT-REP006"
    name = "benchmark-with-seeding"
    severity = Severity.low
    summary = "`cudnn.benchmark = True` in a script that seeds its RNGs for reproducibility"
    why = (
        "Seeding fixes initialisation, shuffling and dropout, but with benchmark=True cuDNN times several "
        "convolution algorithms on the first call and keeps the fastest, which varies with load and "
        "hardware; different algorithms round differently, so two seeded runs still diverge and a "
        "'reproducible' comparison between runs is not."
    )
    fix_text = (
        "If runs must repeat, set `torch.backends.cudnn.benchmark = False` (and "
        "`torch.use_deterministic_algorithms(True)`); if speed matters more, keep benchmark and do not rely "
        "on the seed for run-to-run equality."
    )
    bad = "import torch\n\ntorch.manual_seed(0)\ntorch.backends.cudnn.benchmark = True\n"
    good = "import torch\n\ntorch.manual_seed(0)\ntorch.backends.cudnn.benchmark = False\n"

    def check(self, ctx: Context):
        if "benchmark" not in ctx.source or "seed" not in ctx.source:
            return
        turned_on = [n for n, v in cudnn_flag_assignments(ctx, "benchmark") if v is True]
        if not turned_on or determinism_requests(ctx):
            return  # nothing to report, or PT-REP003's case
        seeds = [s for s in seed_calls(ctx) if not _split_seed(ctx, s)]
        for on in turned_on:
            if any(same_path(ctx, a, b) for s in seeds for a, b in _point_pairs(ctx, on, s)):
                yield self.report(
                    ctx, on,
                    "`cudnn.benchmark = True` picks convolution algorithms by timing, so the seeded runs of this "
                    "script still differ from run to run; set it to False where reproducibility matters",
                )
