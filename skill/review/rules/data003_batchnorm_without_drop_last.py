"""PT-DATA003 batchnorm-without-drop-last."""

from __future__ import annotations

import ast
import re

from ..analysis import (
    Context,
    callee_name,
    const_value,
    dotted,
    has_star_kwargs,
    kwarg_value,
)
from ..models import Severity
from ..rule import Rule
from ..semantics import dataloader_calls, loader_dataset, resolve_value

# BatchNorm over (N, C) / (N, C, L) inputs: a batch of one raises; 2d/3d BN with spatial extent does not.
BN1D = {"BatchNorm1d", "LazyBatchNorm1d"}
EVAL_NAME_RE = re.compile(r"(val|valid|test|eval|dev|holdout|predict|infer)", re.IGNORECASE)
SHUFFLING_SAMPLERS = {"RandomSampler", "DistributedSampler", "WeightedRandomSampler", "SubsetRandomSampler"}


class BatchNormWithoutDropLast(Rule):
    code = "PT-DATA003"
    name = "batchnorm-without-drop-last"
    severity = Severity.medium
    summary = "Shuffled training loader without `drop_last=True` for a model with BatchNorm1d"
    why = (
        "When the dataset size is not a multiple of the batch size the last batch is smaller; a final batch "
        "of one sample makes BatchNorm1d raise 'Expected more than 1 value per channel when training', and "
        "tiny last batches give noisy running statistics. Which epoch hits it depends on the dataset size."
    )
    fix_text = "Pass `drop_last=True` to the training loader (never to evaluation loaders)."
    bad = (
        "model = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2))\n"
        "train_loader = DataLoader(train_ds, batch_size=512, shuffle=True)\n"
    )
    good = (
        "model = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2))\n"
        "train_loader = DataLoader(train_ds, batch_size=512, shuffle=True, drop_last=True)\n"
    )

    def check(self, ctx: Context):
        loaders = dataloader_calls(ctx)
        if not loaders or not self._has_bn1d(ctx):
            return
        for call in loaders:
            if has_star_kwargs(call):
                continue
            drop = kwarg_value(call, "drop_last")
            if drop is not None and const_value(drop, None) is not False:
                continue
            if not self._is_training_loader(ctx, call) or self._divisible(ctx, call):
                continue
            yield self.report(ctx, call)

    @staticmethod
    def _has_bn1d(ctx: Context) -> bool:
        """A BatchNorm1d layer built or referenced (`norm_layer=nn.BatchNorm1d`) in the file."""
        if not any(name in ctx.source for name in BN1D):
            return False
        if ctx.calls(*BN1D):
            return True
        return any(n.attr in BN1D for n in ctx.nodes(ast.Attribute)) or any(n.id in BN1D for n in ctx.nodes(ast.Name))

    @staticmethod
    def _is_training_loader(ctx: Context, call: ast.Call) -> bool:
        stmt = ctx.statement_of(call)
        names = ctx.segment(loader_dataset(call)) if loader_dataset(call) is not None else ""
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names += " " + " ".join(ctx.segment(t) for t in targets)
        if EVAL_NAME_RE.search(names):
            return False
        shuffle = kwarg_value(call, "shuffle")
        if shuffle is None and len(call.args) >= 3:
            shuffle = call.args[2]
        if shuffle is not None:
            return const_value(shuffle, True) not in (False, None, 0)
        sampler = kwarg_value(call, "sampler")
        if sampler is None:
            return False
        value = resolve_value(ctx, sampler)
        if isinstance(value, ast.Call):
            if callee_name(value) not in SHUFFLING_SAMPLERS:
                return False  # SequentialSampler, a custom sampler: order fixed or unknown
            return const_value(kwarg_value(value, "shuffle"), True) is not False
        return bool(re.search(r"train", dotted(sampler) or "", re.IGNORECASE))

    @staticmethod
    def _divisible(ctx: Context, call: ast.Call) -> bool:
        """`TensorDataset(torch.randn(1024, ...))` with batch_size=64: no partial batch."""
        bs = kwarg_value(call, "batch_size")
        if bs is None and len(call.args) >= 2:
            bs = call.args[1]
        b = const_value(bs, None) if bs is not None else 1
        if not isinstance(b, int) or isinstance(b, bool) or b <= 0:
            return False
        if b == 1:
            return True
        ds = resolve_value(ctx, loader_dataset(call)) if loader_dataset(call) is not None else None
        if not isinstance(ds, ast.Call) or callee_name(ds) != "TensorDataset" or not ds.args:
            return False
        first = resolve_value(ctx, ds.args[0]) if isinstance(ds.args[0], ast.Name) else ds.args[0]
        if isinstance(first, ast.Call) and first.args:
            dims = first.args[0].elts if isinstance(first.args[0], (ast.Tuple, ast.List)) else first.args
            n = const_value(dims[0], None) if dims else None
            if callee_name(first) == "randint" and len(first.args) >= 3:
                size = first.args[2]
                n = const_value(size.elts[0], None) if isinstance(size, (ast.Tuple, ast.List)) and size.elts else None
            if isinstance(n, int) and n % b == 0:
                return True
        return False
