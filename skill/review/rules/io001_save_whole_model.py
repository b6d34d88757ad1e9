"""PT-IO001 save-whole-model."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    TORCH_SAVE,
    calls_of,
    is_model_expr,
    is_torch_save,
    latest_binding,
)

SERIALIZED_MODEL_CALLS = {"script", "trace", "export", "compile", "freeze", "optimize_for_inference", "quantize_dynamic"}


class SaveWholeModel(Rule):
    code = "PT-IO001"
    name = "save-whole-model"
    severity = Severity.medium
    summary = "`torch.save(model, ...)` pickles the whole module instead of its state_dict"
    why = (
        "Pickling an nn.Module stores a reference to its class by import path, so the checkpoint breaks when the "
        "class is renamed, moved or edited, and loading it requires `weights_only=False`, i.e. running "
        "arbitrary pickled code."
    )
    fix_text = "Save `model.state_dict()` and load it into a freshly built model with `load_state_dict`."
    bad = "torch.save(model, 'best.pt')\n"
    good = "torch.save(model.state_dict(), 'best.pt')\n"

    def check(self, ctx: Context):
        for call in calls_of(ctx, TORCH_SAVE):
            if not call.args or not is_torch_save(ctx, call):
                continue
            obj = call.args[0]
            if isinstance(obj, ast.Name) and obj.id == "self":
                cls = ctx.enclosing_class(call)
                if cls is not None and ctx.is_module_class(cls):
                    yield self.report(ctx, call)
                continue
            if not isinstance(obj, (ast.Name, ast.Attribute)) or not is_model_expr(ctx, obj):
                continue
            if isinstance(obj, ast.Name) and self._serialized_artifact(ctx, obj):
                continue
            yield self.report(ctx, call)

    @staticmethod
    def _serialized_artifact(ctx: Context, name: ast.Name) -> bool:
        """`model = torch.jit.script(model)` / torch.export artefacts and state dicts: not this smell."""
        b = latest_binding(ctx, name.id, name)
        if b is not None and isinstance(b[1], (ast.Dict, ast.DictComp)):
            return True  # `model = {...}`: a plain dict
        if b is None or not isinstance(b[1], ast.Call):
            return False
        if any(isinstance(n, ast.Call) and callee_name(n) in {"state_dict", "to_dict"} for n in ast.walk(b[1])):
            return True  # `best_model = copy.deepcopy(model.state_dict())`: a state dict under a module's name
        q = ctx.call_qualname(b[1]) or ""
        return q.rsplit(".", 1)[-1] in SERIALIZED_MODEL_CALLS and (q.startswith("torch.") or "." not in q)
