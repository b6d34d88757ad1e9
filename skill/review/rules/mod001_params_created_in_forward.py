"""PT-MOD001 params-created-in-forward."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, kwarg_value
from ..models import Severity
from ..rule import Rule

# torch.nn layers that own parameters (or running statistics) when constructed with their defaults.
PARAM_LAYERS = {
    "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm", "RMSNorm",
    "Embedding", "EmbeddingBag", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "MultiheadAttention", "Transformer", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "PReLU",
}
# parameter-free unless affine=True
AFFINE_OPTIONAL = {"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"}
PARAMETER = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}
CONTAINERS = {f"torch.nn.{c}" for c in ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict")}


class ParamsCreatedInForward(Rule):
    code = "PT-MOD001"
    name = "params-created-in-forward"
    severity = Severity.high
    summary = "Layer with parameters (or nn.Parameter) created inside forward()"
    why = (
        "A layer built in forward gets fresh random weights on every call, is not registered on the "
        "module (absent from parameters(), so the optimizer built earlier never updates it) and is "
        "missing from state_dict, so nothing it 'learns' is kept or saved."
    )
    fix_text = "Build the layer once in `__init__` (or use a Lazy module such as `nn.LazyLinear` when the input size is unknown)."
    bad = (
        "import torch.nn as nn\n\n\nclass Head(nn.Module):\n    def forward(self, x):\n"
        "        return nn.Linear(x.size(-1), 10)(x)\n"
    )
    good = (
        "import torch.nn as nn\n\n\nclass Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.LazyLinear(10)\n\n    def forward(self, x):\n        return self.fc(x)\n"
    )

    def check(self, ctx: Context):
        forwards = ctx.functions_by_name.get("forward")
        if not forwards:
            return
        own_param_classes = self._own_param_classes(ctx)
        names = PARAM_LAYERS | AFFINE_OPTIONAL | {"Parameter"} | own_param_classes
        reported_containers: set[int] = set()
        for call in ctx.calls(*names):
            if not self._in_module_forward(ctx, call):
                continue
            q = ctx.call_qualname(call) or ""
            head, _, last = q.rpartition(".")
            container = self._outer_container(ctx, call)
            if container is not None:
                # `nn.Sequential(nn.Linear(...), nn.ReLU(), ...)` built in forward: one finding, on the container
                if id(container) not in reported_containers and self._flaggable(q, call, own_param_classes):
                    reported_containers.add(id(container))
                    yield self.report(ctx, container, "module container with parameterised layers built inside forward(): new untrained weights every call")
                continue
            if q in PARAMETER:
                yield self.report(ctx, call, "`nn.Parameter` created inside forward(): not registered, recreated every call")
            elif head == "torch.nn" and last in PARAM_LAYERS:
                yield self.report(ctx, call, f"`nn.{last}` created inside forward(): new untrained weights every call")
            elif head == "torch.nn" and last in AFFINE_OPTIONAL and const_value(kwarg_value(call, "affine")) is True:
                yield self.report(ctx, call, f"`nn.{last}(affine=True)` created inside forward(): new weights every call")
            elif q in own_param_classes and isinstance(call.func, ast.Name):
                yield self.report(ctx, call, f"`{q}` (a module with parameters) created inside forward()")

    @staticmethod
    def _flaggable(q: str, call: ast.Call, own: set[str]) -> bool:
        head, _, last = q.rpartition(".")
        return (
            q in PARAMETER
            or (head == "torch.nn" and last in PARAM_LAYERS)
            or (head == "torch.nn" and last in AFFINE_OPTIONAL and const_value(kwarg_value(call, "affine")) is True)
            or (q in own and isinstance(call.func, ast.Name))
        )

    @staticmethod
    def _outer_container(ctx: Context, call: ast.Call) -> ast.Call | None:
        """The outermost nn.Sequential/ModuleList/ModuleDict/ParameterList call that holds `call`, if any."""
        outer = None
        node: ast.AST = call
        for anc in ctx.ancestors(call):
            if isinstance(anc, ast.Call):
                q = ctx.call_qualname(anc) or ""
                if q in CONTAINERS:
                    outer = anc
                elif anc.func is not node:
                    break
            elif not isinstance(anc, (ast.List, ast.Tuple, ast.Dict, ast.keyword, ast.Starred, ast.ListComp, ast.GeneratorExp, ast.comprehension)):
                break
            node = anc
        return outer

    @staticmethod
    def _in_module_forward(ctx: Context, node: ast.AST) -> bool:
        for anc in ctx.ancestors(node):
            if isinstance(anc, ast.ClassDef):
                return False
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and anc.name == "forward":
                cls = ctx.parent(anc)
                return isinstance(cls, ast.ClassDef) and ctx.is_module_class(cls)
        return False

    @staticmethod
    def _own_param_classes(ctx: Context) -> set[str]:
        """Module classes of this file whose own methods build parameterised torch.nn layers."""
        out: set[str] = set()
        module_classes = ctx.module_class_names
        if not module_classes:
            return out
        for call in ctx.calls(*PARAM_LAYERS, "Parameter"):
            q = ctx.call_qualname(call) or ""
            if q in PARAMETER or (q.startswith("torch.nn.") and q.rsplit(".", 1)[1] in PARAM_LAYERS):
                cls = ctx.enclosing_class(call)
                if cls is not None and cls.name in module_classes:
                    out.add(cls.name)
        return out
