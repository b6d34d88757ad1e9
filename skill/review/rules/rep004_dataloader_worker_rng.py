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
    # Opt-in: the premise of the original rule is out of date. Checked on torch 2.13 with a 2-worker, shuffle=True
    # loader after a global `torch.manual_seed`: two runs give bit-identical batches, and the legacy `np.random` and
    # `random` modules differ per worker and per epoch, because since torch 1.9 each worker seeds torch, `random` and
    # numpy's legacy RNG from a base seed drawn from the (seeded) global generator.
    default_enabled = False
    summary = "Shuffled multi-worker DataLoader without `generator=` or `worker_init_fn=`"
    why = (
        "Opt-in: with a global `torch.manual_seed` a shuffled multi-worker loader already repeats bit for bit, and "
        "since torch 1.9 each worker seeds torch, `random` and numpy's legacy `np.random` itself. It still matters "
        "when (a) the code must run on torch < 1.9 and uses `np.random` inside workers (every worker then draws the "
        "same augmentations, every epoch); (b) the Dataset holds its own RNG object built in `__init__` "
        "(`np.random.default_rng(seed)`, `random.Random(seed)`), which each worker copies: identical streams in all "
        "workers, repeated every epoch, unless a `worker_init_fn` reseeds it from `torch.initial_seed()`; (c) the "
        "batch order must not change when other code consumes the global RNG first (model init, a new augmentation): "
        "a dedicated seeded `generator=` decouples it, and is what a resumable loader needs."
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
