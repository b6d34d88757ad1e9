"""PT-DEP004 non-public-api."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule, replace_node

PRIVATE_MODULE = "torch.utils.data._utils.collate"
# private qualified name -> public qualified name (same object)
PUBLIC = {
    f"{PRIVATE_MODULE}.default_collate": "torch.utils.data.default_collate",
    f"{PRIVATE_MODULE}.default_convert": "torch.utils.data.default_convert",
}


class NonPublicApi(Rule):
    code = "PT-DEP004"
    name = "non-public-api"
    severity = Severity.low
    summary = "Non-public torch API used where a public alias exists"
    why = (
        "Underscore modules such as `torch.utils.data._utils.collate` are implementation details that "
        "can move or change without deprecation; the same functions are exported publicly."
    )
    fix_text = "Import it from the public location, e.g. `from torch.utils.data import default_collate`."
    bad = "from torch.utils.data._utils.collate import default_collate\n"
    good = "from torch.utils.data import default_collate\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        if "_utils" not in ctx.source:
            return
        for imp in ctx.nodes(ast.ImportFrom):
            mod = imp.module or ""  # type: ignore[union-attr]
            if imp.level or not (mod == PRIVATE_MODULE or mod == "torch.utils.data._utils"):  # type: ignore[union-attr]
                continue
            names = imp.names  # type: ignore[union-attr]
            if mod == "torch.utils.data._utils":
                if any(a.name == "collate" for a in names):
                    yield self.report(ctx, imp, "`torch.utils.data._utils.collate` is private; use `torch.utils.data.default_collate`")
                continue
            fix = None
            if all(f"{mod}.{a.name}" in PUBLIC for a in names):
                parts = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in names)
                fix = self.make_fix(
                    "import from `torch.utils.data`",
                    [replace_node(ctx, imp, f"from torch.utils.data import {parts}")],
                )
            yield self.report(ctx, imp, f"`{mod}` is private; import from `torch.utils.data`", fix=fix)
        for imp in ctx.nodes(ast.Import):
            for alias in imp.names:  # type: ignore[union-attr]
                if alias.name in {PRIVATE_MODULE, "torch.utils.data._utils"}:
                    yield self.report(ctx, imp, f"`{alias.name}` is private; import from `torch.utils.data`")
        # the private path spelled out in an expression: `torch.utils.data._utils.collate.default_collate`
        for node in ctx.nodes(ast.Attribute):
            if node.attr not in {"default_collate", "default_convert"}:  # type: ignore[union-attr]
                continue
            public = PUBLIC.get(ctx.qualname(node) or "")
            text = dotted(node) or ""
            torch_head = text.split(".", 1)[0]
            if public is None or not text.startswith(torch_head + ".utils.data._utils.collate."):
                continue
            fix = None
            if ctx.qualname(ast.Name(id=torch_head)) == "torch":
                fix = self.make_fix(
                    f"use `{public}`",
                    [replace_node(ctx, node, torch_head + public[len("torch"):])],
                )
            yield self.report(ctx, node, f"`{ctx.qualname(node)}` is private; use `{public}`", fix=fix)
