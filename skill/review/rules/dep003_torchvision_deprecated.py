"""PT-DEP003 torchvision-deprecated."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value
from ..models import Edit, Severity
from ..rule import Rule, char_col

LEGACY_KWARGS = {"pretrained": "weights", "pretrained_backbone": "weights_backbone"}


class TorchvisionDeprecated(Rule):
    code = "PT-DEP003"
    name = "torchvision-deprecated"
    severity = Severity.low
    summary = "Deprecated torchvision API (`pretrained=` model argument, `transforms.v2.ToTensor`)"
    why = (
        "torchvision models take `weights=` since 0.13; `pretrained=True` warns and maps to one legacy "
        "weight set, which hides which weights (and which preprocessing) you actually load. "
        "`transforms.v2.ToTensor` is deprecated in favour of `v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])`."
    )
    fix_text = (
        "Pass `weights=<Model>_Weights.IMAGENET1K_V1` (or `.DEFAULT`) instead of `pretrained=True`, "
        "`weights=None` instead of `pretrained=False`."
    )
    bad = "from torchvision import models\n\nmodel = models.resnet50(pretrained=True)\n"
    good = "from torchvision import models\n\nmodel = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V1)\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        if "torchvision" not in ctx.source and "pytorch/vision" not in ctx.source:
            return
        for kw_node in ctx.nodes(ast.keyword):
            if kw_node.arg not in LEGACY_KWARGS:  # type: ignore[union-attr]
                continue
            call = ctx.parent(kw_node)
            if not isinstance(call, ast.Call):
                continue
            q = ctx.call_qualname(call) or ""
            if not (q.startswith("torchvision.models.") or _is_vision_hub_load(ctx, call, q)):
                continue
            if any(k.arg == LEGACY_KWARGS[kw_node.arg] for k in call.keywords):  # type: ignore[union-attr]
                continue
            yield self.report(
                ctx,
                call,
                f"`{kw_node.arg}=` is deprecated; pass `{LEGACY_KWARGS[kw_node.arg]}=` (a Weights enum or None)",  # type: ignore[union-attr]
                fix=self._fix(ctx, kw_node),  # type: ignore[arg-type]
            )
        for call in ctx.calls("ToTensor"):
            if ctx.call_qualname(call) == "torchvision.transforms.v2.ToTensor":
                yield self.report(
                    ctx,
                    call,
                    "`transforms.v2.ToTensor` is deprecated; use `v2.ToImage()` + `v2.ToDtype(torch.float32, scale=True)`",
                )

    def _fix(self, ctx: Context, kw: ast.keyword):
        # Only `pretrained=False` is mechanical: `pretrained=True` picks a model-specific legacy weight set.
        if const_value(kw.value) is not False:
            return None
        line = kw.lineno
        col = char_col(ctx, line, kw.col_offset)
        end_line = kw.end_lineno
        end_col = char_col(ctx, end_line, kw.end_col_offset)
        new = f"{LEGACY_KWARGS[kw.arg]}=None"  # type: ignore[index]
        return self.make_fix(f"use `{new}`", [Edit(line=line, col=col + 1, end_line=end_line, end_col=end_col + 1, content=new)])


def _is_vision_hub_load(ctx: Context, call: ast.Call, q: str) -> bool:
    """`torch.hub.load("pytorch/vision", "resnet18", pretrained=True)`."""
    if q != "torch.hub.load" or not call.args:
        return False
    repo = const_value(call.args[0])
    return isinstance(repo, str) and repo.split(":")[0].rstrip("/").endswith("pytorch/vision")
