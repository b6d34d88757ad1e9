"""PT-REP004 dataloader-worker-rng."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, has_star_kwargs, kwarg_value
from ..models import Severity
from ..rule import Rule


def constant_of_name(ctx: Context, name: str) -> object:
    """The constant every `name = <constant>` assignment in the file gives, else ... (unknown)."""
    values = set()
    for node in ctx.nodes(ast.Assign):
        for t in node.targets:  # type: ignore[union-attr]
            if isinstance(t, ast.Name) and t.id == name:
                v = const_value(node.value)  # type: ignore[union-attr]
                if v is ...:
                    return ...
                values.add(v)
    return values.pop() if len(values) == 1 else ...


class DataLoaderWorkerRng(Rule):
    code = "PT-REP004"
    name = "dataloader-worker-rng"
    severity = Severity.low
    summary = "Shuffled multi-worker DataLoader without `generator=` or `worker_init_fn=`"
    why = (
        "The shuffle order and each worker's seed come from the loader's generator; without an explicit "
        "seeded `generator=` (and a `worker_init_fn` for RNGs used inside workers) the batch order and "
        "per-worker augmentation are not reproducible, and resuming cannot replay the same order."
    )
    fix_text = (
        "Pass `generator=torch.Generator().manual_seed(seed)` and "
        "`worker_init_fn=seed_worker` (the recipe in PyTorch's reproducibility notes)."
    )
    bad = (
        "from torch.utils.data import DataLoader\n\n"
        "loader = DataLoader(train_ds, batch_size=64, shuffle=True, num_workers=8)\n"
    )
    good = (
        "import torch\n"
        "from torch.utils.data import DataLoader\n\n"
        "g = torch.Generator().manual_seed(0)\n"
        "loader = DataLoader(train_ds, batch_size=64, shuffle=True, num_workers=8, generator=g)\n"
    )

    def check(self, ctx: Context):
        for call in ctx.calls("DataLoader"):
            shuffle = kwarg_value(call, "shuffle") or (call.args[2] if len(call.args) > 2 else None)
            if const_value(shuffle) is not True or has_star_kwargs(call):
                continue
            if kwarg_value(call, "generator") is not None or kwarg_value(call, "worker_init_fn") is not None:
                continue
            workers = kwarg_value(call, "num_workers")
            if workers is None:
                continue
            n = const_value(workers)
            if n is ... and isinstance(workers, ast.Name):
                n = constant_of_name(ctx, workers.id)
            if n is ... or (isinstance(n, int) and not isinstance(n, bool) and n > 0):
                yield self.report(ctx, call)
