"""PT-AMP007 bf16-supported-with-emulation."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, keyword
from ..models import Severity
from ..rule import Rule


class Bf16SupportedWithEmulation(Rule):
    code = "PT-AMP007"
    name = "bf16-supported-with-emulation"
    severity = Severity.medium
    summary = "`torch.cuda.is_bf16_supported()` without `including_emulation=False` picks bf16 on GPUs that only emulate it"
    why = (
        "is_bf16_supported() returns True on pre-Ampere GPUs (V100, T4) where bf16 is emulated, so code that "
        "uses it to choose between bf16 and fp16 trains in bf16 at a fraction of fp16 speed there. "
        "`including_emulation=False` asks whether the hardware runs bf16 natively."
    )
    fix_text = "Call `torch.cuda.is_bf16_supported(including_emulation=False)` to choose the autocast dtype."
    bad = (
        "import torch\n\n"
        "dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16\n"
    )
    good = (
        "import torch\n\n"
        "dtype = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16\n"
    )

    def check(self, ctx: Context):
        calls = ctx.calls("is_bf16_supported")
        if not calls:
            return
        for call in calls:
            q = ctx.call_qualname(call) or ""
            if not q.endswith("cuda.is_bf16_supported") or not self._picks_bf16(ctx):
                continue
            if any(isinstance(a, ast.arguments) or a in getattr(ctx.parent(a), "decorator_list", ()) for a in ctx.ancestors(call)):
                continue  # `@skipIf(not is_bf16_supported())`: emulated bf16 still computes correctly
            kw = keyword(call, "including_emulation")
            if kw is not None and const_value(kw.value, default=None) is not True:
                continue
            if call.args and const_value(call.args[0], default=None) is not True:
                continue
            if self._capability_checked(ctx, call) or self._fallback_of_native_check(ctx, call):
                continue
            yield self.report(
                ctx, call,
                "`is_bf16_supported()` counts emulated bf16 (V100, T4), where bf16 training is several times slower "
                "than fp16: pass `including_emulation=False`",
            )

    @staticmethod
    def _picks_bf16(ctx: Context) -> bool:
        src = ctx.source
        return "bfloat16" in src or "'bf16'" in src or '"bf16"' in src or "bf16-mixed" in src

    @staticmethod
    def _capability_checked(ctx: Context, call: ast.Call) -> bool:
        """`get_device_capability()[0] >= 8 and is_bf16_supported()` decides on the hardware already."""
        fn = ctx.enclosing_function(call)
        if fn is not None and any(ctx.is_inside(c, fn) for c in ctx.calls("get_device_capability")):
            return True
        stmt = ctx.statement_of(call)
        tests = [stmt] if stmt is not None else []
        for anc in ctx.ancestors(call):
            if isinstance(anc, (ast.If, ast.IfExp, ast.BoolOp, ast.While)):
                tests.append(anc)
        for node in tests:
            for n in ast.walk(node):
                if isinstance(n, ast.Call) and callee_name(n) in {"get_device_capability", "get_device_properties"}:
                    return True
        return False

    @staticmethod
    def _fallback_of_native_check(ctx: Context, call: ast.Call) -> bool:
        """`try: ...(including_emulation=False) except TypeError: ...is_bf16_supported()` (older torch)."""
        for anc in ctx.ancestors(call):
            if isinstance(anc, ast.ExceptHandler):
                tr = ctx.parent(anc)
                if isinstance(tr, ast.Try):
                    for n in ast.walk(ast.Module(body=tr.body, type_ignores=[])):
                        if isinstance(n, ast.Call) and callee_name(n) == "is_bf16_supported" and keyword(n, "including_emulation"):
                            return True
        return False
