"""PT-MOD002 forward-called-directly."""

from __future__ import annotations

import ast

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule, replace_node


class ForwardCalledDirectly(Rule):
    code = "PT-MOD002"
    name = "forward-called-directly"
    severity = Severity.medium
    summary = "`module.forward(x)` called directly instead of `module(x)`"
    why = (
        "`nn.Module.__call__` runs the registered forward pre-hooks and hooks and sets up backward hooks "
        "around `forward`; calling `.forward()` skips them, which silently breaks hook-based tools "
        "(pruning, quantization observers, feature extractors, FSDP/DDP wrappers)."
    )
    fix_text = "Call the module itself: `self.backbone(x)`."
    fix_applicability = "unsafe"
    bad = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.backbone = nn.Linear(4, 4)\n\n    def forward(self, x):\n        return self.backbone.forward(x)\n"
    )
    good = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.backbone = nn.Linear(4, 4)\n\n    def forward(self, x):\n        return self.backbone(x)\n"
    )

    def check(self, ctx: Context):
        for call in ctx.calls("forward"):
            recv = call.func.value if isinstance(call.func, ast.Attribute) else None
            if recv is None:
                continue
            # super().forward(x) / super(Cls, self).forward(x): the sanctioned way to extend forward
            if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Name) and recv.func.id == "super":
                continue
            name = dotted(recv)
            if name is None:
                continue  # `(a or b).forward(...)`, `f().forward(...)`: unknown object
            last = name.rsplit(".", 1)[-1]
            # `nn.Linear.forward(self, x)` / `Base.forward(self, x)`: explicit base-class call
            if last[:1].isupper() or (ctx.qualname(recv) or "").startswith("torch."):
                continue
            # ctx.forward(...) inside an autograd.Function, etc.: not a module
            if name in {"ctx", "cls"}:
                continue
            if _is_remote_module(ctx, name):
                continue  # RemoteModule.forward(...) is the RPC API (it runs the remote module's __call__)
            if isinstance(recv, ast.Name) and _bound_to_plain_class(ctx, recv.id):
                continue  # `diffusion = GaussianDiffusion(...)`: a class of this file that is not a module
            if name == "self":
                fn = ctx.enclosing_function(call)
                cls = ctx.enclosing_class(call)
                if cls is None or not ctx.is_module_class(cls) or fn is None or fn.name in {"forward", "__call__"}:
                    continue
            # unsafe: hooks now run, and an object that only looks like a module may lack __call__
            fix = self.make_fix(f"call `{name}(...)`", [replace_node(ctx, call.func, name)], "unsafe")
            yield self.report(ctx, call, f"`{name}.forward(...)` skips module hooks; call `{name}(...)`", fix=fix)


def _bound_to_plain_class(ctx: Context, name: str) -> bool:
    """Is `name` assigned an instance of a class defined in this file that is not an nn.Module?"""
    for assign in ctx.nodes(ast.Assign):
        value = assign.value  # type: ignore[union-attr]
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)):
            continue
        cls = ctx.classes_by_name.get(value.func.id)
        if cls is None or ctx.is_module_class(cls):
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in assign.targets):  # type: ignore[union-attr]
            return True
    return False


def _is_remote_module(ctx: Context, name: str) -> bool:
    """A `torch.distributed.nn.RemoteModule` (its `forward` is the documented way to call it over RPC)."""
    if "RemoteModule" not in ctx.source:
        return False
    last = name.rsplit(".", 1)[-1]
    if "remote" in last.lower():
        return True
    for assign in ctx.nodes(ast.Assign):
        value = assign.value  # type: ignore[union-attr]
        if isinstance(value, ast.Call) and "RemoteModule" in (dotted(value.func) or ""):
            if any((dotted(t) or "").rsplit(".", 1)[-1] == last for t in assign.targets):  # type: ignore[union-attr]
                return True
    return False
