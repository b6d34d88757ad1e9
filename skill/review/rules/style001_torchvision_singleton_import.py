"""PT-STYLE001 torchvision-singleton-import."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule, replace_node


class TorchvisionSingletonImport(Rule):
    code = "PT-STYLE001"
    name = "torchvision-singleton-import"
    severity = Severity.info
    default_enabled = False  # style / micro-performance: opt-in (select it by code)
    summary = "`import torchvision.X as X`; write `from torchvision import X`"
    why = "Both bind the same module; the `from` form says it once and is the style torchvision documents."
    fix_text = "Write `from torchvision import models` instead of `import torchvision.models as models`."
    bad = "import torchvision.models as models\n"
    good = "from torchvision import models\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        if "torchvision." not in ctx.source:
            return
        for imp in ctx.nodes(ast.Import):
            for alias in imp.names:  # type: ignore[union-attr]
                if not alias.name.startswith("torchvision.") or not alias.asname:
                    continue
                package, _, last = alias.name.rpartition(".")
                if alias.asname != last:
                    continue
                fix = None
                if len(imp.names) == 1:  # type: ignore[union-attr]
                    fix = self.make_fix(
                        f"use `from {package} import {last}`",
                        [replace_node(ctx, imp, f"from {package} import {last}")],
                    )
                yield self.report(ctx, imp, f"`import {alias.name} as {last}`; write `from {package} import {last}`", fix=fix)
