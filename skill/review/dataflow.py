"""Dataflow: what a name or expression holds (model, loss, optimizer, loader, graph-attached tensor, dataset that does I/O).
"""

from __future__ import annotations

import ast
import re

from .analysis import Context, callee_name, dotted, kwarg_value, receiver
from .torch_tables import (
    DETACHING_METHODS,
    IO_CALL_NAMES,
    IO_CALL_RE,
    IO_DATASETS,
    KEEP_FUNCS,
    KEEP_METHODS,
    LOSS_NAME_RE,
    MODEL_EVIDENCE_METHODS,
    MODEL_FACTORY_RE,
    MODEL_NAME_RE,
    MODEL_VAR_RE,
    MODULE_METHODS,
    OPTIMIZER_NAME_RE,
    _BUILTIN_NAMES,
)
from .scopes import (
    _cache,
    binding_before,
    call_receiver_name,
    name_bindings,
    resolve_value,
)
from .gradmode import (
    in_no_grad,
)

def model_names(ctx: Context) -> set[str]:
    """Dotted names that hold an nn.Module in this file (`model`, `self.net`): receivers of
    parameters()/train()/eval(), names bound to a module constructor, DDP wrappers."""
    cached = ctx.__dict__.get("_pp_model_names")
    if cached is not None:
        return cached
    out: set[str] = set()
    for call in ctx.calls(*MODEL_EVIDENCE_METHODS):
        if call.args and callee_name(call) in {"train", "eval"} and not (
            callee_name(call) == "train" and isinstance(call.args[0], ast.Constant)
        ):
            continue  # `trainer.train(data)` is not nn.Module.train()
        name = call_receiver_name(call)
        if name and name not in {"self", "super"}:
            out.add(name)
    for name, bindings in name_bindings(ctx).items():
        for _stmt, value in bindings:
            if isinstance(value, ast.Call) and is_module_constructor(ctx, value):
                out.add(name)
    ctx.__dict__["_pp_model_names"] = out
    return out


def is_module_constructor(ctx: Context, call: ast.Call) -> bool:
    """`Net()`, `nn.Sequential(...)`, `torchvision.models.resnet18()`, `timm.create_model()`, `DDP(model)`,
    `Net().to(device)` (not losses, parameters or optimizers)."""
    while isinstance(call.func, ast.Attribute) and callee_name(call) in {"to", "cuda", "cpu", "half", "float", "train", "eval"}:
        inner = call.func.value
        if not isinstance(inner, ast.Call):
            return False
        call = inner
    q = ctx.call_qualname(call) or ""
    last = q.rsplit(".", 1)[-1]
    if last in ctx.module_class_names:
        return True
    if q.startswith("torch.nn.") and last[:1].isupper() and not last.endswith("Loss") and last not in {"Parameter", "ParameterList", "ParameterDict"}:
        return True
    if q.startswith("torchvision.models.") or q in {"timm.create_model"} or last in {"DistributedDataParallel", "DataParallel", "DDP", "FSDP", "FullyShardedDataParallel"}:
        return True
    return False


def is_model_expr(ctx: Context, expr: ast.AST) -> bool:
    """Does `expr` (a name, `self.model`, `model.module`) hold an nn.Module?"""
    name = dotted(expr) if isinstance(expr, (ast.Name, ast.Attribute)) else None
    if not name:
        return False
    if name.endswith(".module"):
        name = name[: -len(".module")]
    if name in model_names(ctx):
        return True
    return bool(MODEL_VAR_RE.search(name.rsplit(".", 1)[-1]))


def dataloader_calls(ctx: Context) -> list[ast.Call]:
    """`DataLoader(...)` calls (torch.utils.data.DataLoader however imported, `DataLoader as DL` too)."""
    out = []
    names = {"DataLoader"} | {local for local, q in ctx.imports.items() if q.endswith(".DataLoader")}
    for call in ctx.calls(*names):
        q = ctx.call_qualname(call) or ""
        if q == "DataLoader" or q.endswith(".DataLoader"):
            out.append(call)
    return out


def loader_dataset(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0] if not isinstance(call.args[0], ast.Starred) else None
    return kwarg_value(call, "dataset")


def is_torch_load(ctx: Context, call: ast.Call) -> bool:
    return ctx.call_qualname(call) in {"torch.load", "torch.serialization.load"}


def is_torch_save(ctx: Context, call: ast.Call) -> bool:
    return ctx.call_qualname(call) in {"torch.save", "torch.serialization.save"}


def module_names(ctx: Context) -> set[str]:
    """Dotted names that hold nn.Modules by evidence: module methods called on them, or built from a
    module class / model factory."""

    def make() -> set[str]:
        out: set[str] = set()
        for meth in MODULE_METHODS:
            for call in ctx.calls(meth):
                recv = receiver(call)
                name = dotted(recv) if recv is not None else None
                if name and not LOSS_NAME_RE.search(name.rsplit(".", 1)[-1]):
                    out.add(name)
        mod_classes = ctx.module_class_names
        for node in ctx.nodes(ast.Assign):
            value = node.value  # type: ignore[union-attr]
            while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in {"to", "cuda", "eval", "train", "float", "half"}:
                value = value.func.value
            if not isinstance(value, ast.Call):
                continue
            q = ctx.call_qualname(value) or ""
            last = q.rsplit(".", 1)[-1]
            if (last in mod_classes or q.startswith("torchvision.models") or MODEL_FACTORY_RE.search(last)
                    or (q.startswith("torch.nn.") and not q.startswith("torch.nn.functional") and last[:1].isupper()
                        and not LOSS_NAME_RE.search(last))):
                for t in node.targets:  # type: ignore[union-attr]
                    name = dotted(t)
                    if name:
                        out.add(name)
        return out

    return _cache(ctx, "module_names", make)


def _local_callable_names(ctx: Context) -> set[str]:
    return _cache(ctx, "local_callables", lambda: set(ctx.functions_by_name) | set(ctx.classes_by_name) | set(ctx.imports))


def model_call_key(ctx: Context, call: ast.Call) -> str | None:
    """The dotted callee if `call` looks like a forward pass of a model (`model(x)`, `self.net(x)`,
    `model.forward(x)`, `self(x)` inside an nn.Module), else None."""
    func = call.func
    if not call.args and not call.keywords:
        return None  # a forward pass takes inputs; `solver.model()` / `get_model()` do not
    if isinstance(func, ast.Name):
        name = func.id
        if name == "self":
            cls = ctx.enclosing_class(call)
            return "self" if cls is not None and ctx.is_module_class(cls) else None
        if name in _local_callable_names(ctx) or name in _BUILTIN_NAMES:
            return None
        if LOSS_NAME_RE.search(name):
            return None
        if MODEL_NAME_RE.search(name) or name in module_names(ctx):
            return name
        return None
    if isinstance(func, ast.Attribute):
        if func.attr == "forward":
            return dotted(func.value) or "forward"
        name = dotted(func)
        if name is None:
            return None
        head = name.split(".", 1)[0]
        if head in ctx.imports and head not in ctx.assigned_names:
            return None  # `models.resnet18(...)`, `torch.nn.Linear(...)`: constructors / library functions
        last = func.attr
        if LOSS_NAME_RE.search(last):
            return None
        if name in module_names(ctx):
            return name
        # `self.model(x)`, `model.module(x)`, `trainer.model(x)`: not `solver.model(...)`-style APIs
        if MODEL_NAME_RE.search(last) and (head == "self" or MODEL_NAME_RE.search(head) or head in module_names(ctx)
                                           or re.search(r"(trainer|engine|runner|learner|agent|wrapper)", head, re.I)):
            return name
    return None


def is_loss_call(ctx: Context, call: ast.Call) -> bool:
    name = callee_name(call) or ""
    return bool(LOSS_NAME_RE.search(name)) and name not in {"item", "backward"}


def backward_receiver_names(ctx: Context, scope: ast.AST) -> set[str]:
    """Names that are backward()-ed in `scope`: `loss.backward()`, `scaler.scale(loss).backward()`,
    `(loss / k).backward()`, `accelerator.backward(loss)`, `torch.autograd.backward(loss)`."""

    def make():
        out: set[str] = set()
        for call in ctx.calls("backward"):
            if ctx.enclosing_scope(call) is not scope:
                continue
            recv = receiver(call)
            parts = [recv] if recv is not None else []
            parts.extend(call.args)
            for part in parts:
                for n in ast.walk(part):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
        return out

    return _cache(ctx, f"bw:{id(scope)}", make)


def is_graph_attached(ctx: Context, expr: ast.AST | None, scope: ast.AST, at: ast.AST | None = None, depth: int = 0) -> bool:
    """Does `expr` evaluate to a tensor still attached to an autograd graph (a model output, a loss, or
    arithmetic on them), judged by the bindings in `scope` before `at`? Unknown -> False (precision)."""
    if expr is None or depth > 5:
        return False
    at = at if at is not None else expr
    if isinstance(expr, ast.Name):
        entry = binding_before(ctx, scope, expr.id, at)
        if entry is None:
            return False
        value = entry[2]
        if isinstance(value, tuple):
            kind, inner = value
            if kind == "aug":
                return is_graph_attached(ctx, inner, scope, entry[1], depth + 1) or is_graph_attached(
                    ctx, ast.Name(id=expr.id, ctx=ast.Load()), scope, entry[1], depth + 1
                )
            if inner is not None and model_call_key(ctx, inner):
                return True  # `logits, loss = model(x, y)`, `out, hidden = rnn(x, h)`
            if inner is not None and is_loss_call(ctx, inner) and (LOSS_NAME_RE.search(expr.id) or _first_target(entry[1]) == expr.id):
                return True  # `loss, parts = compute_loss(...)`: the loss, not the (often detached) extras
            return _backwarded_after(ctx, scope, expr.id, entry)
        if value is None:
            return False
        if _is_detaching(value):
            return False
        if is_graph_attached(ctx, value, scope, entry[1], depth + 1):
            return True
        return isinstance(value, ast.Call) and _backwarded_after(ctx, scope, expr.id, entry)
    if isinstance(expr, ast.Attribute):
        if expr.attr in {"loss", "logits"}:
            return is_graph_attached(ctx, expr.value, scope, at, depth + 1)
        return False
    if isinstance(expr, ast.Subscript):
        return is_graph_attached(ctx, expr.value, scope, at, depth + 1)
    if isinstance(expr, ast.BinOp):
        return is_graph_attached(ctx, expr.left, scope, at, depth + 1) or is_graph_attached(ctx, expr.right, scope, at, depth + 1)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.USub, ast.UAdd)):
        return is_graph_attached(ctx, expr.operand, scope, at, depth + 1)
    if isinstance(expr, ast.IfExp):
        return is_graph_attached(ctx, expr.body, scope, at, depth + 1) or is_graph_attached(ctx, expr.orelse, scope, at, depth + 1)
    if isinstance(expr, ast.Call):
        if in_no_grad(ctx, expr):
            return False
        name = callee_name(expr)
        if name in DETACHING_METHODS:
            return False
        if model_call_key(ctx, expr) or is_loss_call(ctx, expr):
            return True
        if isinstance(expr.func, ast.Attribute):
            q = ctx.call_qualname(expr) or ""
            if q.startswith("torch.") and name in KEEP_FUNCS:
                return any(is_graph_attached(ctx, a, scope, at, depth + 1) for a in expr.args)
            if name in KEEP_METHODS:
                return is_graph_attached(ctx, expr.func.value, scope, at, depth + 1)
        elif name == "sum" and expr.args:
            return is_graph_attached(ctx, expr.args[0], scope, at, depth + 1)
        if depth < 3 and name not in _NOT_RESOLVED:
            # a helper / method / imported function that returns its loss or output with the graph
            proj = ctx.project
            home = proj.home(ctx, expr)
            t = proj.resolve_call(home, expr)
            if t is not None and t.fn is not scope:
                return proj.summary(t.fn, t.ctx).returns_graph(depth + 1)
    return False


_NOT_RESOLVED = frozenset({"print", "len", "float", "int", "str", "max", "min", "abs", "round"})


def _first_target(stmt: ast.AST) -> str | None:
    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], (ast.Tuple, ast.List)) and stmt.targets[0].elts:
        first = stmt.targets[0].elts[0]
        return first.id if isinstance(first, ast.Name) else None
    return None


def _is_detaching(value: ast.AST) -> bool:
    if isinstance(value, ast.Call):
        name = callee_name(value)
        if name in DETACHING_METHODS or (isinstance(value.func, ast.Name) and value.func.id in {"float", "int", "len", "bool"}):
            return True
    if isinstance(value, ast.Attribute) and value.attr in {"data", "grad"}:
        return True
    return isinstance(value, (ast.Constant, ast.Compare, ast.List, ast.Dict, ast.Tuple, ast.JoinedStr))


def _backwarded_after(ctx: Context, scope: ast.AST, name: str, entry) -> bool:
    """Is `name` (as bound by `entry`) the receiver of a backward() call later in `scope`?"""
    if name not in backward_receiver_names(ctx, scope):
        return False
    for call in ctx.calls("backward"):
        if call.lineno >= entry[0][0] and ctx.enclosing_scope(call) is scope:
            recv = receiver(call)
            parts = ([recv] if recv is not None else []) + list(call.args)
            if any(isinstance(n, ast.Name) and n.id == name for p in parts for n in ast.walk(p)):
                nxt = binding_before(ctx, scope, name, call)
                if nxt is entry or nxt is None or nxt[1] is entry[1]:
                    return True
    return False


def is_optimizer_name(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return bool(OPTIMIZER_NAME_RE.search(last)) and not re.search(r"(sched|lr_|warmup|scaler)", last, re.I)


def dataset_does_io(ctx: Context, expr: ast.expr) -> bool:
    """Does the dataset behind `expr` read, decode or transform per item? False when unknown or in memory."""
    for _ in range(4):
        value = resolve_value(ctx, expr)
        if not isinstance(value, ast.Call):
            return False
        q = ctx.call_qualname(value) or ""
        last = q.rsplit(".", 1)[-1]
        if last in {"Subset", "ConcatDataset"} and value.args:
            first = value.args[0]
            expr = first.elts[0] if isinstance(first, (ast.List, ast.Tuple)) and first.elts else first
            continue
        if last in {"TensorDataset", "FakeData", "StackDataset"}:
            return False
        if last in IO_DATASETS and (q.startswith(("torchvision.", "torchaudio.")) or "." not in q or q.startswith("datasets.")):
            return True
        cls = ctx.classes_by_name.get(last)
        if cls is not None:
            return class_does_io(ctx, cls)
        return False
    return False


def class_does_io(ctx: Context, cls: ast.ClassDef, depth: int = 0) -> bool:
    for base in cls.bases:
        b = (ctx.qualname(base) or "").rsplit(".", 1)[-1]
        if b in IO_DATASETS:
            return True
        if b == "TensorDataset":
            return False
        if depth < 3 and b in ctx.classes_by_name and ctx.classes_by_name[b] is not cls:
            if class_does_io(ctx, ctx.classes_by_name[b], depth + 1):
                return True
    for item in cls.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in {"__getitem__", "__getitems__", "__iter__"}:
            for n in ast.walk(item):
                if isinstance(n, ast.Call) and (callee_name(n) in IO_CALL_NAMES or IO_CALL_RE.search(callee_name(n) or "")):
                    return True
    return False
