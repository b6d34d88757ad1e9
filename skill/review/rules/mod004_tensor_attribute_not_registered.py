"""PT-MOD004 tensor-attribute-not-registered."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, dotted
from ..models import Severity
from ..rule import Rule
from ._api_common import is_torch_tensor_call

FRAMEWORK_ATTRS = {"example_input_array"}
DEVICE_FOLLOWING = {"to", "cuda", "type_as", "to_device"}


def _tensor_valued(ctx: Context, value: ast.AST, depth: int = 0) -> bool:
    """`torch.zeros(...)`, `torch.tril(...).view(...)`, `torch.randn(n, n) * 0.02`: a fresh tensor."""
    while True:
        if is_torch_tensor_call(ctx, value):
            return True
        if depth < 2 and isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            return _helper_returns_tensor(ctx, value.func.id, depth + 1)
        if depth < 3 and isinstance(value, ast.Name):
            # `counts = torch.tensor(class_counts)` then `self.w = counts.sum() / counts`: a local of __init__
            fn = ctx.enclosing_function(value)
            bound = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign) and len(n.targets) == 1
                     and isinstance(n.targets[0], ast.Name) and n.targets[0].id == value.id
                     and n.lineno < value.lineno] if fn is not None else []
            return bool(bound) and _tensor_valued(ctx, bound[-1], depth + 1)
        if isinstance(value, ast.BinOp):
            return _tensor_valued(ctx, value.left, depth) or _tensor_valued(ctx, value.right, depth)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr not in {
            "item", "tolist", "numpy", "size", "dim", "numel", "chunk", "split", "unbind",
        }:
            value = value.func.value
            continue
        return False


def _helper_returns_tensor(ctx: Context, name: str, depth: int) -> bool:
    """A module-level function of this file whose every `return` is a torch tensor (built directly, or a local
    variable assigned from a torch call): `self.pe = sinusoid_table(n, d)`."""
    fn = next((f for f in ctx.tree.body if isinstance(f, ast.FunctionDef) and f.name == name), None)
    if fn is None:
        return False
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    if not returns:
        return False
    local: dict[str, ast.AST] = {}
    for n in ast.walk(fn):
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            local.setdefault(n.targets[0].id, n.value)
    for r in returns:
        v = r.value
        if isinstance(v, ast.Name) and v.id in local:
            v = local[v.id]
        if v is None or not _tensor_valued(ctx, v, depth):
            return False
    return True


class TensorAttributeNotRegistered(Rule):
    code = "PT-MOD004"
    name = "tensor-attribute-not-registered"
    severity = Severity.medium
    summary = "A tensor stored on an nn.Module in `__init__` that is neither an `nn.Parameter` nor a buffer"
    why = (
        "Module.to(), .cuda(), .half() and state_dict() only see parameters and registered buffers: a plain "
        "tensor attribute stays on the CPU in float32 after `model.to('cuda')` (device-mismatch errors, or "
        "silent CPU work), is not saved in checkpoints, and is not replicated correctly by DataParallel."
    )
    fix_text = (
        "Use `self.register_buffer('name', tensor)` for constants (persistent=False if it need not be saved) "
        "or `nn.Parameter(tensor)` if it should be learned."
    )
    bad = (
        "import torch\nfrom torch import nn\n\nclass PosEnc(nn.Module):\n    def __init__(self, d):\n"
        "        super().__init__()\n        self.pe = torch.zeros(512, d)\n\n"
        "    def forward(self, x):\n        return x + self.pe[: x.size(1)]\n"
    )
    good = (
        "import torch\nfrom torch import nn\n\nclass PosEnc(nn.Module):\n    def __init__(self, d):\n"
        "        super().__init__()\n        self.register_buffer('pe', torch.zeros(512, d))\n\n"
        "    def forward(self, x):\n        return x + self.pe[: x.size(1)]\n"
    )

    def check(self, ctx: Context):
        for cls in ctx.nodes(ast.ClassDef):
            if not ctx.is_module_class(cls):  # type: ignore[arg-type]
                continue
            body = cls.body  # type: ignore[union-attr]
            if any(isinstance(f, ast.FunctionDef) and f.name in {"_apply", "to", "cuda", "state_dict", "_save_to_state_dict"} for f in body):
                continue  # the class moves / saves its tensors itself
            init = next((f for f in body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            if init is None:
                continue
            for stmt in ast.walk(init):
                if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                    continue
                t = stmt.targets[0]
                if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"):
                    continue
                if not _tensor_valued(ctx, stmt.value) or self._scalar(stmt.value):
                    continue
                attr = t.attr
                if "cache" in attr.lower() or attr in FRAMEWORK_ATTRS:
                    continue  # transient caches (KV caches) and framework hooks (Lightning's example_input_array)
                if self._registered_later(ctx, cls, attr) or self._always_moved(ctx, cls, attr):
                    continue
                yield self.report_at(
                    ctx, stmt.lineno, stmt.col_offset,
                    f"`self.{attr}` is a plain tensor attribute: `model.to(device)` does not move it and "
                    "`state_dict()` does not save it; use `register_buffer` or `nn.Parameter`",
                )

    @staticmethod
    def _scalar(call: ast.Call) -> bool:
        """`torch.tensor(0.5)`: a 0-d CPU tensor mixes with CUDA tensors without error."""
        if not isinstance(call, ast.Call):
            return False
        q = callee_name(call)
        if q != "tensor" or not call.args:
            return False
        arg = call.args[0]
        if isinstance(arg, ast.IfExp):
            return any(isinstance(const_value(b, default=None), (int, float)) for b in (arg.body, arg.orelse))
        if isinstance(arg, ast.Call) and callee_name(arg) in {"float", "int"}:
            return True
        return isinstance(const_value(arg, default=None), (int, float))

    @staticmethod
    def _registered_later(ctx: Context, cls: ast.AST, attr: str) -> bool:
        for n in ast.walk(cls):
            if isinstance(n, ast.Call) and callee_name(n) in {"register_buffer", "register_parameter", "Parameter"}:
                for a in [*n.args, *(k.value for k in n.keywords)]:
                    if (isinstance(a, ast.Constant) and a.value == attr) or dotted(a) == f"self.{attr}":
                        return True
        return False

    @staticmethod
    def _always_moved(ctx: Context, cls: ast.AST, attr: str) -> bool:
        """Every read outside __init__ is `self.x.to(...)`/`.type_as(...)` (moved where it is used)."""
        reads = []
        for n in ast.walk(cls):
            if isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.value, ast.Name) and n.value.id == "self" and isinstance(n.ctx, ast.Load):
                fn = ctx.enclosing_function(n)
                if fn is not None and fn.name != "__init__":
                    reads.append(n)
        if not reads:
            return False
        for r in reads:
            node: ast.AST = r
            parent = ctx.parent(node)
            if isinstance(parent, ast.Subscript) and parent.value is node:
                node, parent = parent, ctx.parent(parent)
            if not (isinstance(parent, ast.Attribute) and parent.attr in DEVICE_FOLLOWING):
                return False
        return True
