"""PT-IO007 wrapped-state-dict-saved."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import TORCH_SAVE, calls_of, name_bindings

WRAPPERS = {"DataParallel": "module.", "DistributedDataParallel": "module.", "DDP": "module.", "compile": "_orig_mod."}
# code that strips or tolerates the prefix when loading
UNWRAP_MARKERS = ("module.", "_orig_mod.", "consume_prefix_in_state_dict_if_present", "removeprefix", "unwrap_model")


def _wrapper_kind(ctx: Context, value: ast.AST | None) -> str | None:
    while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in {"to", "cuda"}:
        value = value.func.value
    if not isinstance(value, ast.Call):
        return None
    q = ctx.call_qualname(value) or ""
    last = q.rsplit(".", 1)[-1]
    if last == "compile":
        return "compile" if q == "torch.compile" else None
    if last in WRAPPERS and (q.startswith("torch.") or last == "DDP" or last in ctx.imports or q == last):
        return last
    return None


class WrappedStateDictSaved(Rule):
    code = "PT-IO007"
    name = "wrapped-state-dict-saved"
    severity = Severity.medium
    summary = "`state_dict()` of a DataParallel / DDP / torch.compile wrapper saved: every key carries a prefix"
    why = (
        "A wrapper's state_dict names every tensor `module.<name>` (DataParallel, DDP) or `_orig_mod.<name>` "
        "(torch.compile), so the checkpoint does not load into the plain model used for evaluation, "
        "export or fine-tuning: strict loading fails, and strict=False loads nothing and leaves random weights."
    )
    fix_text = (
        "Save the inner model: `model.module.state_dict()` (DP/DDP), `model._orig_mod.state_dict()` (compile), "
        "or keep a reference to the unwrapped model and save that."
    )
    bad = (
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\n"
        "model = DDP(net, device_ids=[rank])\ntorch.save(model.state_dict(), 'ckpt.pt')\n"
    )
    good = (
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\n"
        "model = DDP(net, device_ids=[rank])\ntorch.save(model.module.state_dict(), 'ckpt.pt')\n"
    )

    def check(self, ctx: Context):
        saves = calls_of(ctx, TORCH_SAVE)
        if not saves or any(m in ctx.source for m in UNWRAP_MARKERS if m not in {"module."}) or self._strips_prefix(ctx):
            return
        wrapped: dict[str, tuple[str, ast.stmt]] = {}
        for name, bindings in name_bindings(ctx).items():
            for stmt, value in bindings:
                kind = _wrapper_kind(ctx, value)
                if kind:
                    wrapped[name] = (kind, stmt)
        if not wrapped:
            return
        # the file loads its checkpoints into the wrapped model too (`model = DataParallel(model)` then
        # `model.load_state_dict(torch.load(path))`): its own files carry the prefix both ways and load fine
        loads_wrapped = set()
        for call in ctx.calls("load_state_dict"):
            recv = dotted(call.func.value) if isinstance(call.func, ast.Attribute) else None
            if recv in wrapped and (wrapped[recv][1].lineno, wrapped[recv][1].col_offset) < (call.lineno, call.col_offset):
                loads_wrapped.add(recv)
        for save in saves:
            for n in ast.walk(save):
                if not (isinstance(n, ast.Call) and callee_name(n) == "state_dict" and isinstance(n.func, ast.Attribute)):
                    continue
                recv = dotted(n.func.value)
                if recv in wrapped and recv not in loads_wrapped:
                    kind, stmt = wrapped[recv]
                    if (stmt.lineno, stmt.col_offset) > (save.lineno, save.col_offset) and not recv.startswith("self."):
                        continue
                    same_scope = ctx.enclosing_function(stmt) is ctx.enclosing_function(save) or (
                        recv.startswith("self.") and ctx.enclosing_class(stmt) is ctx.enclosing_class(save)
                    ) or ctx.enclosing_function(stmt) is None
                    if not same_scope:
                        continue
                    prefix = WRAPPERS[kind]
                    inner = "_orig_mod" if kind == "compile" else "module"
                    yield self.report(
                        ctx, n,
                        f"`{recv}` is wrapped by {'torch.compile' if kind == 'compile' else kind}: its state_dict keys "
                        f"start with `{prefix}` and will not load into the plain model; save `{recv}.{inner}.state_dict()`",
                    )

    @staticmethod
    def _strips_prefix(ctx: Context) -> bool:
        """`k.replace('module.', '')`, `k[7:]` after startswith('module.'): the loader handles the prefix."""
        for call in ctx.calls("replace", "startswith", "lstrip", "split"):
            if any(isinstance(a, ast.Constant) and a.value in {"module.", "module", "_orig_mod.", "_orig_mod"} for a in call.args):
                return True
        return False
