"""PT-DATA004 train-loader-not-shuffled."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import call_sites, is_test_function, loader_dataset, walk_no_defs
from ._trainloop import loader_constructions, loader_option, loop_source, training_loops

ITERABLE_RE = re.compile(r"IterableDataset|IterDataPipe|WebDataset|\bwds\.|streaming\s*=\s*True|StreamingDataset|ShardedIterator")
NON_SHUFFLING_SAMPLERS = {"SequentialSampler"}
# Loops that carry state from batch to batch (truncated BPTT, streaming): order is the point.
CARRIED_STATE_RE = re.compile(r"(hidden|^hx$|^h0$|^mems$|memory|^state$|^states$|^carry$)", re.I)


def carries_state(loop: ast.AST) -> bool:
    for n in walk_no_defs(loop):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                for x in ast.walk(t):
                    if isinstance(x, ast.Name) and CARRIED_STATE_RE.search(x.id):
                        return True
        if isinstance(n, ast.Call) and callee_name(n) in {"repackage_hidden", "detach_hidden"}:
            return True
    return False


def sampler_given(loader: ast.Call) -> ast.AST | None:
    for name, pos in (("sampler", 3), ("batch_sampler", 4)):
        v = kwarg_value(loader, name)
        if v is None and len(loader.args) > pos:
            v = loader.args[pos]
        if v is not None and not (isinstance(v, ast.Constant) and v.value is None):
            return v
    return None


EVAL_LOADER_RE = re.compile(r"(^|[._])(val|valid|validation|test|eval|evaluation|dev|holdout)(_|$|[A-Z]|loader|dl|data)", re.I)


class TrainLoaderNotShuffled(Rule):
    code = "PT-DATA004"
    name = "train-loader-not-shuffled"
    severity = Severity.high
    summary = "The loader a training loop consumes is never shuffled (no `shuffle=True`, no shuffling sampler)"
    why = (
        "Without shuffling every epoch presents the samples in the same order, and datasets are often stored "
        "sorted (by class, by source, by date): batches hold one class at a time, the gradient follows the "
        "ordering rather than the data, and the model ends up biased towards whatever came last."
    )
    fix_text = "Pass `shuffle=True` to the training DataLoader (or a `RandomSampler`/`DistributedSampler` with `set_epoch`)."
    bad = (
        "import torch\n"
        "from torch.utils.data import DataLoader\n\n"
        "torch.manual_seed(0)\n"
        "train_loader = DataLoader(train_ds, batch_size=64, num_workers=4)\n"
        "for epoch in range(10):\n"
        "    for x, y in train_loader:\n"
        "        optimizer.zero_grad()\n"
        "        loss = criterion(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    good = bad.replace("batch_size=64,", "batch_size=64, shuffle=True,")

    def check(self, ctx: Context):
        if not ctx.calls("DataLoader") or ITERABLE_RE.search(ctx.source):
            return
        reported: set[int] = set()
        for loop in training_loops(ctx):
            if is_test_function(ctx, ctx.enclosing_function(loop)) or carries_state(loop):
                continue
            src = loop_source(loop)
            if src is None or not self._repeated(ctx, loop):
                continue
            # a loop shared by training and evaluation (run_epoch(model, val_loader, train=False)) is fed by
            # evaluation loaders too: those need no shuffling
            built = [(ld, helper) for ld, helper in loader_constructions(ctx, src) if not self._eval_loader(ctx, ld, helper)]
            if not built or not all(self._unshuffled(ctx, ld, helper) for ld, helper in built):
                continue
            for ld, helper in built:
                anchor = helper or ld
                if id(anchor) in reported:
                    continue
                reported.add(id(anchor))
                yield self.report(
                    ctx, anchor,
                    f"`{dotted(src) or 'the loader'}` feeds the training loop on line {loop.lineno} but is never "
                    "shuffled: every epoch sees the samples in the same (often sorted) order",
                )

    @staticmethod
    def _eval_loader(ctx: Context, loader: ast.Call, helper: ast.Call | None) -> bool:
        """Assigned to a name that says evaluation data (val_loader, test_dl, eval_loader...)."""
        stmt = ctx.statement_of(helper or loader)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        names = [n for t in targets for n in ([t] if not isinstance(t, ast.Tuple) else t.elts)]
        return any(EVAL_LOADER_RE.search(dotted(n) or "") for n in names)

    @staticmethod
    def _repeated(ctx: Context, loop: ast.AST) -> bool:
        """The batch loop runs once per epoch: inside an outer loop, or in a function called from one."""
        if ctx.loops_around(loop):
            return True
        fn = ctx.enclosing_function(loop)
        return fn is not None and any(ctx.loops_around(site) for site in call_sites(ctx, fn))

    @staticmethod
    def _unshuffled(ctx: Context, loader: ast.Call, helper: ast.Call | None) -> bool:
        shuffle = loader_option(ctx, loader, helper, "shuffle", 2)
        if shuffle is not None and shuffle is not False:
            return False  # True, or not a constant (shuffle=args.shuffle)
        sampler = sampler_given(loader)
        if sampler is not None:
            return isinstance(sampler, ast.Call) and callee_name(sampler) in NON_SHUFFLING_SAMPLERS
        if any(kw.arg is None for kw in loader.keywords):
            return False  # **loader_kwargs
        ds = loader_dataset(loader)
        if ds is None:
            return False
        return True
