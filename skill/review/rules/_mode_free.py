"""Is a model provably mode-free: built only from layers that behave the same in train() and eval()?

Used by PT-MODE001/002 to stay silent where a missing `eval()` (or `train()`) cannot change a result: an MLP,
one `nn.Linear`, an LSTM without dropout. Proven only for a model built in the reviewed file from a module
class whose every submodule is a known mode-free layer (or another such class); anything unknown (a
torchvision model, a layer built by a helper, `self.training` read in forward, a functional dropout) is not.
"""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..semantics import name_bindings

MODE_FREE_LAYERS = {
    "Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh",
    "Sigmoid", "Softmax", "LogSoftmax", "Softplus", "Softsign", "Hardtanh", "Hardswish", "Hardsigmoid", "Tanhshrink",
    "Identity", "Flatten", "Unflatten", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d", "Embedding", "EmbeddingBag", "LayerNorm", "GroupNorm", "RMSNorm", "Upsample", "PixelShuffle",
    "PixelUnshuffle", "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d",
}
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
NOT_LAYERS = {"Parameter", "ParameterList", "ParameterDict", "Module"}
RECURRENT = {"LSTM", "GRU", "RNN"}  # mode-dependent only through their `dropout` argument
MODE_FUNCTIONAL = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
                   "batch_norm", "instance_norm", "rrelu"}
WRAPPERS = {"DataParallel", "DistributedDataParallel", "DDP"}
MOVES = {"to", "cuda", "cpu", "float", "double", "half", "train", "eval"}


def model_is_mode_free(ctx: Context, name: str) -> bool:
    """Every binding of `name` in the file builds a module class of this file that is mode-free."""
    bindings = name_bindings(ctx).get(name, ())
    if not bindings:
        return False
    for _stmt, value in bindings:
        while isinstance(value, ast.Call) and (
            isinstance(value.func, ast.Attribute) and value.func.attr in MOVES
            or callee_name(value) in WRAPPERS and value.args
        ):
            value = value.func.value if isinstance(value.func, ast.Attribute) and value.func.attr in MOVES else value.args[0]
        if isinstance(value, ast.Name) and value.id == name:
            continue  # `model = model.cuda()`, `model = nn.DataParallel(model)`: the same model
        if not isinstance(value, ast.Call):
            return False
        if (ctx.call_qualname(value) or "").startswith("torch.nn.") and isinstance(value.func, ast.Attribute):
            if not _layer_is_mode_free(ctx, value, 0):  # `model = nn.Linear(d, k)`
                return False
            continue
        if not isinstance(value.func, ast.Name):
            return False
        home, cls = ctx, ctx.classes_by_name.get(value.func.id)
        if cls is None and value.func.id in ctx.imports:  # `from model import Net` in the reviewed tree
            found = ctx.project.resolve_name(ctx, value.func.id)
            if isinstance(found, tuple) and isinstance(found[1], ast.ClassDef):
                home, cls = found
        if cls is None or not _class_is_mode_free(home, cls, 0):
            return False
    return True


def _layer_is_mode_free(ctx: Context, call: ast.Call, depth: int) -> bool:
    q = ctx.call_qualname(call) or ""
    last = callee_name(call) or ""
    if isinstance(call.func, ast.Name) and last in ctx.classes_by_name:
        return _class_is_mode_free(ctx, ctx.classes_by_name[last], depth + 1)
    if not (q.startswith("torch.nn.") and not q.startswith("torch.nn.functional")):
        return False
    if last in MODE_FREE_LAYERS or last in NOT_LAYERS:
        return True
    if last in RECURRENT:
        p = kwarg_value(call, "dropout")
        if p is None and len(call.args) >= 6:
            p = call.args[5]
        return p is None or const_value(p) in (0, 0.0)
    if last in CONTAINERS:
        return all(isinstance(a, ast.Call) and _layer_is_mode_free(ctx, a, depth) for a in call.args)
    return False


def _class_is_mode_free(ctx: Context, cls: ast.ClassDef, depth: int) -> bool:
    if depth > 4 or not ctx.is_module_class(cls):
        return False
    for n in ast.walk(cls):
        if isinstance(n, ast.Attribute) and n.attr == "training":
            return False  # forward branches on the mode
        if isinstance(n, ast.FunctionDef) and n.name in {"train", "eval"}:
            return False
        if not isinstance(n, ast.Call):
            continue
        if callee_name(n) in MODE_FUNCTIONAL:
            return False
        q = ctx.call_qualname(n) or ""
        if q.startswith("torch.nn.") and not q.startswith("torch.nn.functional") and (callee_name(n) or "")[:1].isupper():
            if not _layer_is_mode_free(ctx, n, depth):
                return False
        elif isinstance(n.func, ast.Name) and n.func.id in ctx.classes_by_name:
            if not _layer_is_mode_free(ctx, n, depth):
                return False
    # every submodule assigned in the class is one of the layers checked above
    for n in ast.walk(cls):
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) and dotted(t.value) == "self" for t in n.targets):
            v = n.value
            if isinstance(v, ast.Call):
                q = ctx.call_qualname(v) or ""
                known = (q.startswith("torch.nn.") or (isinstance(v.func, ast.Name) and v.func.id in ctx.classes_by_name))
                if not known and not q.startswith("torch.") and _maybe_module_factory(v):
                    return False  # `self.features = make_layers(cfg)`, `models.resnet18()`: unknown layers
    return True


def _maybe_module_factory(call: ast.Call) -> bool:
    """A call that might build layers (not `int(...)`, `x.size(0)`, `len(...)`)."""
    name = callee_name(call) or ""
    return name not in {"int", "float", "len", "max", "min", "round", "tuple", "list", "dict", "sum", "abs", "bool",
                        "str", "size", "dim", "numel", "item", "get", "pop"}
