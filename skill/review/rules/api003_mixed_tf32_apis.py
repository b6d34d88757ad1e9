"""PT-API003 mixed-tf32-apis."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import mutually_exclusive

LEGACY_FLAGS = ("cuda.matmul.allow_tf32", "cudnn.allow_tf32")


def _legacy_uses(ctx: Context) -> list[ast.AST]:
    out: list[ast.AST] = []
    for node in ctx.nodes(ast.Assign):
        for t in node.targets:  # type: ignore[union-attr]
            name = dotted(t) or ""
            if name.endswith(LEGACY_FLAGS):
                out.append(node)
    for call in ctx.calls("set_float32_matmul_precision"):
        if (ctx.call_qualname(call) or "").startswith("torch."):
            out.append(call)
    return out


def _new_uses(ctx: Context) -> list[ast.AST]:
    out: list[ast.AST] = []
    for node in ctx.nodes(ast.Assign):
        for t in node.targets:  # type: ignore[union-attr]
            name = dotted(t) or ""
            if name.endswith(".fp32_precision") and ("backends" in name or name.startswith(("cudnn", "matmul"))):
                out.append(node)
    return out


class MixedTf32Apis(Rule):
    code = "PT-API003"
    name = "mixed-tf32-apis"
    severity = Severity.high
    summary = "Legacy TF32 switches (`allow_tf32`, `set_float32_matmul_precision`) mixed with the new `fp32_precision` API"
    why = (
        "torch 2.9+ has a new per-backend `fp32_precision` setting; once a script has set it, reading TF32 "
        "through the legacy API (`allow_tf32`, `get_float32_matmul_precision()`) raises on torch 2.13 (e.g. "
        "inside a library that checks `allow_tf32`), while setting a legacy flag is accepted and silently "
        "overrides the new setting, so the two can disagree about whether matmuls run in TF32."
    )
    fix_text = (
        "Use one API: either `torch.backends.cuda.matmul.fp32_precision = 'tf32'` (and `cudnn...`) only, or "
        "only the legacy flags; keep a version fallback in exclusive branches (`if hasattr(...)` / `else`)."
    )
    bad = (
        "import torch\n\n"
        "torch.backends.cuda.matmul.fp32_precision = 'tf32'\n"
        "torch.backends.cudnn.allow_tf32 = True\n"
    )
    good = (
        "import torch\n\n"
        "torch.backends.cuda.matmul.fp32_precision = 'tf32'\n"
        "torch.backends.cudnn.conv.fp32_precision = 'tf32'\n"
    )

    def check(self, ctx: Context):
        if "fp32_precision" not in ctx.source:
            return
        new = _new_uses(ctx)
        if not new:
            return
        for old in _legacy_uses(ctx):
            if self._in_fallback(ctx, old) or all(self._separate(ctx, old, n) for n in new):
                continue
            yield self.report_at(
                ctx, old.lineno, old.col_offset,  # type: ignore[attr-defined]
                "legacy TF32 setting in a script that also uses the new `fp32_precision` API: on torch 2.13 reading "
                "the legacy flags after the new one raises, and setting them overrides it; use one API",
            )

    @staticmethod
    def _in_fallback(ctx: Context, node: ast.AST) -> bool:
        """Under a version test (`if hasattr(...)`, `if torch.__version__ ...`) or in an except handler."""
        for anc in ctx.ancestors(node):
            if isinstance(anc, ast.ExceptHandler):
                return True
            if isinstance(anc, ast.If):
                text = ast.dump(anc.test)
                if any(w in text for w in ("hasattr", "version", "fp32_precision", "TorchVersion", "parse")):
                    return True
        return False

    @staticmethod
    def _separate(ctx: Context, a: ast.AST, b: ast.AST) -> bool:
        """Version fallbacks: exclusive branches, or a try body and one of its except handlers."""
        if mutually_exclusive(ctx, a, b):
            return True
        for anc in ctx.ancestors(a):
            if isinstance(anc, ast.Try) and ctx.is_inside(b, anc):
                in_body_a = any(x is s or ctx.is_inside(a, s) for s in anc.body for x in (a,))
                in_body_b = any(b is s or ctx.is_inside(b, s) for s in anc.body)
                in_handler_a = any(ctx.is_inside(a, h) for h in anc.handlers)
                in_handler_b = any(ctx.is_inside(b, h) for h in anc.handlers)
                return (in_body_a and in_handler_b) or (in_body_b and in_handler_a)
        return False
