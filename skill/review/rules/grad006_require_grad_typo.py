"""PT-GRAD006 require-grad-typo."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule, replace_node


class RequireGradTypo(Rule):
    code = "PT-GRAD006"
    name = "require-grad-typo"
    severity = Severity.high
    summary = "`.require_grad` (missing 's') creates a new attribute; the tensor's requires_grad is unchanged"
    why = (
        "Assigning to `x.require_grad` just sets a plain Python attribute on the tensor or parameter. "
        "Autograd reads `requires_grad`, so a layer you meant to freeze keeps training (and one you meant "
        "to train stays frozen) with no error or warning."
    )
    fix_text = "Spell it `requires_grad`, or call `module.requires_grad_(False)` to freeze a whole module."
    bad = "for p in backbone.parameters():\n    p.require_grad = False\n"
    good = "for p in backbone.parameters():\n    p.requires_grad = False\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        for node in ctx.nodes(ast.Attribute):
            if node.attr == "require_grad" and isinstance(node.ctx, ast.Store):
                edit = replace_node(ctx, node, f"{ctx.segment(node.value)}.requires_grad")
                yield self.report(ctx, node, fix=self.make_fix("rename to `requires_grad`", [edit]))
