"""PT-DATA005 eval-loader-shuffles-or-drops."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import EVAL_DATA_RE, in_no_grad, loader_dataset, is_eval_function_name, is_test_function
from ._trainloop import events, loader_constructions, loader_option, loop_source, training_loops

TRAIN_NAME_RE = re.compile(r"(^|_)(train|training|trn)($|_)", re.I)


class EvalLoaderShufflesOrDrops(Rule):
    code = "PT-DATA005"
    name = "eval-loader-shuffles-or-drops"
    severity = Severity.medium
    summary = "Evaluation loader built with `drop_last=True` (drops samples from the metric) or `shuffle=True`"
    why = (
        "`drop_last=True` on an evaluation loader silently leaves out up to batch_size - 1 samples, so the metric "
        "is computed on a different, smaller set than the one reported (and differs between batch sizes). "
        "`shuffle=True` changes nothing in an average, but makes per-sample outputs and saved predictions "
        "impossible to line up with the dataset."
    )
    fix_text = "Build evaluation loaders with `shuffle=False, drop_last=False` (the defaults)."
    bad = (
        "import torch\n"
        "from torch.utils.data import DataLoader\n\n"
        "val_loader = DataLoader(val_ds, batch_size=256, drop_last=True)\n"
        "model.eval()\n"
        "with torch.no_grad():\n"
        "    for x, y in val_loader:\n"
        "        correct += (model(x).argmax(1) == y).sum().item()\n"
    )
    good = bad.replace(", drop_last=True", "")

    def check(self, ctx: Context):
        if not ctx.calls("DataLoader"):
            return
        train_loops = training_loops(ctx)
        train_loaders: set[int] = set()
        for loop in train_loops:
            for ld, helper in loader_constructions(ctx, loop_source(loop)):
                train_loaders.add(id(ld) if helper is None else id(helper))
        reported: set[int] = set()
        for loop in ctx.nodes(ast.For, ast.AsyncFor):
            if loop in train_loops or any(ctx.is_inside(t, loop) or ctx.is_inside(loop, t) for t in train_loops):
                continue
            if any(e.kind in ("backward", "step") for e in events(ctx, loop)):
                continue
            src = loop_source(loop)
            if src is None:
                continue
            fn = ctx.enclosing_function(loop)
            if is_test_function(ctx, fn):
                continue
            name = dotted(src) or ""
            evalish = in_no_grad(ctx, loop) or (fn is not None and is_eval_function_name(fn.name)) or EVAL_DATA_RE.search(name.rsplit(".", 1)[-1])
            if not evalish or TRAIN_NAME_RE.search(name.rsplit(".", 1)[-1]):
                continue
            for ld, helper in loader_constructions(ctx, src):
                anchor = helper or ld
                if id(anchor) in reported or id(anchor) in train_loaders:
                    continue
                stmt = ctx.statement_of(anchor)
                if isinstance(stmt, ast.Assign) and any(TRAIN_NAME_RE.search((dotted(t) or "").rsplit(".", 1)[-1]) for t in stmt.targets):
                    continue
                ds = dotted(loader_dataset(ld)) if loader_dataset(ld) is not None else ""
                if ds and TRAIN_NAME_RE.search(ds.rsplit(".", 1)[-1]):
                    continue  # a probe over the training set (a subsample estimate), not the reported metric
                drop = loader_option(ctx, ld, helper, "drop_last", 8) is True
                shuffle = loader_option(ctx, ld, helper, "shuffle", 2) is True
                if not (drop or shuffle):
                    continue
                reported.add(id(anchor))
                if drop:
                    d = self.report(
                        ctx, anchor,
                        f"Evaluation loader `{name}` uses `drop_last=True`: up to batch_size - 1 samples are left out "
                        "of the reported metric",
                    )
                else:
                    d = self.report(
                        ctx, anchor,
                        f"Evaluation loader `{name}` uses `shuffle=True`: harmless for an average, but per-sample "
                        "outputs no longer line up with the dataset order",
                    )
                    d.extra["severity"] = Severity.low
                yield d


