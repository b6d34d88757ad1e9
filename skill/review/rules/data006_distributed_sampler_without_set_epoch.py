"""PT-DATA006 distributed-sampler-without-set-epoch."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import dataloader_calls, name_bindings


def _is_dist_sampler(ctx: Context, node: ast.AST | None) -> bool:
    if isinstance(node, ast.IfExp):  # `DistributedSampler(ds) if args.distributed else None`
        return _is_dist_sampler(ctx, node.body) or _is_dist_sampler(ctx, node.orelse)
    if not isinstance(node, ast.Call):
        return False
    q = ctx.call_qualname(node) or ""
    return q.rsplit(".", 1)[-1] == "DistributedSampler"


class DistributedSamplerWithoutSetEpoch(Rule):
    code = "PT-DATA006"
    name = "distributed-sampler-without-set-epoch"
    severity = Severity.high
    summary = "A `DistributedSampler` in an epoch loop without `sampler.set_epoch(epoch)`"
    why = (
        "DistributedSampler shuffles with a generator seeded by `seed + epoch`, and the epoch only changes "
        "through set_epoch(): without it every epoch visits the samples in exactly the same order on every "
        "rank, which is the same as not shuffling after the first epoch (worse convergence, order artefacts)."
    )
    fix_text = "Call `train_sampler.set_epoch(epoch)` (or `loader.sampler.set_epoch(epoch)`) at the start of every epoch."
    bad = (
        "from torch.utils.data import DataLoader, DistributedSampler\n\n"
        "sampler = DistributedSampler(train_ds)\nloader = DataLoader(train_ds, batch_size=64, sampler=sampler)\n"
        "for epoch in range(epochs):\n    for x, y in loader:\n        train_step(x, y)\n"
    )
    good = (
        "from torch.utils.data import DataLoader, DistributedSampler\n\n"
        "sampler = DistributedSampler(train_ds)\nloader = DataLoader(train_ds, batch_size=64, sampler=sampler)\n"
        "for epoch in range(epochs):\n    sampler.set_epoch(epoch)\n    for x, y in loader:\n        train_step(x, y)\n"
    )

    def check(self, ctx: Context):
        if "DistributedSampler" not in ctx.source or ctx.calls("set_epoch"):
            return  # any set_epoch call (sampler, loader.sampler, a wrapper) is taken as handled
        bindings = name_bindings(ctx)
        for loader in dataloader_calls(ctx):
            sampler = kwarg_value(loader, "sampler")
            if sampler is None and len(loader.args) >= 4:
                sampler = loader.args[3]
            site = sampler
            if isinstance(sampler, (ast.Name, ast.Attribute)) and dotted(sampler):
                # `sampler=train_sampler`, `sampler=self.sampler` (a trainer class)
                vals = [v for _s, v in bindings.get(dotted(sampler), ()) if _is_dist_sampler(ctx, v)]
                if not vals:
                    continue
                site = vals[-1]
            elif not _is_dist_sampler(ctx, sampler):
                continue
            if isinstance(site, ast.IfExp):
                site = site.body if _is_dist_sampler(ctx, site.body) else site.orelse
            if const_value(kwarg_value(site, "shuffle"), default=True) is False:  # type: ignore[arg-type]
                continue  # an evaluation sampler: no shuffling to vary
            stmt = ctx.statement_of(loader)
            if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                continue
            name = dotted(stmt.targets[0])
            if not name or not self._iterated_per_epoch(ctx, name, stmt):
                continue
            yield self.report(
                ctx, site,
                "`DistributedSampler` without `set_epoch(epoch)`: every epoch repeats the same sample order on "
                "every rank; call `sampler.set_epoch(epoch)` each epoch",
            )

    @staticmethod
    def _iterated_per_epoch(ctx: Context, name: str, stmt: ast.stmt) -> bool:
        """The loader is used inside a loop: iterated in a nested loop, or handed to a per-epoch call."""
        scope = ctx.enclosing_function(stmt)
        cls = _enclosing_class(ctx, stmt) if name.startswith("self.") else None
        for node in ctx.nodes(ast.Name, ast.Attribute):
            if dotted(node) != name or not isinstance(getattr(node, "ctx", None), ast.Load):
                continue
            same_place = ctx.enclosing_function(node) is scope or (cls is not None and _enclosing_class(ctx, node) is cls)
            if not same_place or not (ctx.loops_around(node) or (cls is not None and _iterated_by_for(ctx, node))):
                continue
            parent = ctx.parent(node)
            if isinstance(parent, ast.Attribute) or (isinstance(parent, ast.Call) and dotted(parent.func) == "len"):
                continue  # `loader.dataset`, `len(loader)`
            return True
        return False


def _enclosing_class(ctx: Context, node: ast.AST) -> ast.ClassDef | None:
    """`self.loader` built in `__init__` and iterated in another method of the same class."""
    for anc in ctx.ancestors(node):
        if isinstance(anc, ast.ClassDef):
            return anc
    return None


def _iterated_by_for(ctx: Context, node: ast.AST) -> bool:
    """`for batch in self.loader:` / `for i, b in enumerate(tqdm(self.loader)):` in a method (the epoch step)."""
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.For, ast.AsyncFor)):
            return anc.iter is child
        if not isinstance(anc, ast.Call):
            return False
        child = anc
    return False
