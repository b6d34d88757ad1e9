"""PT-MOD003 modules-in-plain-container."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule

CONTAINERS = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
WRAPPERS = {"ModuleList", "ModuleDict", "Sequential", "ParameterList", "ParameterDict"}
# torch.nn modules without parameters or buffers (unless given a weight): a plain list of these loses nothing
STATELESS_RE = re.compile(
    r"^(ReLU6?|LeakyReLU|GELU|SiLU|Mish|ELU|SELU|CELU|Tanh|Sigmoid|Hardswish|Hardsigmoid|Softplus|Softmax\w*|LogSoftmax|"
    r"Dropout\w*|Identity|Flatten|Unflatten|\w*Pool\d?d|Upsample|PixelShuffle|PixelUnshuffle|\w*Loss|InstanceNorm\dd)$"
)
# imported classes whose names say they are modules (a Block from models/blocks.py)
MODULE_LIKE_NAME = re.compile(
    r"(Block|Layer|Conv\w*|Net|Module|Head|Encoder|Decoder|Attention|MLP|Mlp|FeedForward|Embedding|Norm|Linear|Stage|Cell|Transformer)$"
)


class ModulesInPlainContainer(Rule):
    code = "PT-MOD003"
    name = "modules-in-plain-container"
    severity = Severity.high
    summary = "Sub-modules stored in a plain list/dict attribute are not registered"
    why = (
        "nn.Module only registers sub-modules assigned directly or held in nn.ModuleList/ModuleDict. "
        "Modules in a Python list or dict are invisible to parameters() (the optimizer never trains "
        "them), to .to(device)/.cuda() (device mismatch), to train()/eval() and to state_dict (not saved)."
    )
    fix_text = "Use `nn.ModuleList(...)` for lists, `nn.ModuleDict(...)` for dicts (`nn.ParameterList` for parameters)."
    bad = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self, d, n):\n        super().__init__()\n"
        "        self.blocks = [nn.Linear(d, d) for _ in range(n)]\n"
    )
    good = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self, d, n):\n        super().__init__()\n"
        "        self.blocks = nn.ModuleList(nn.Linear(d, d) for _ in range(n))\n"
    )

    def check(self, ctx: Context):
        if not ctx.module_class_names:
            return
        self._facts: dict[int, _FunctionFacts] = {}
        for stmt in ctx.nodes(ast.Assign, ast.AnnAssign):
            value = stmt.value  # type: ignore[union-attr]
            if value is None or not isinstance(value, (*CONTAINERS, ast.Name, ast.BinOp, ast.Call)):
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # type: ignore[union-attr]
            attrs = [t for t in targets if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"]
            if not attrs:
                continue
            fn = ctx.enclosing_function(stmt)
            if fn is None or fn.name == "forward":
                continue
            if isinstance(value, ast.Name) and value.id in _parameter_names(fn):
                continue  # `self.dim = dim`: the common case, a constructor argument
            cls = ctx.parent(fn)
            if not isinstance(cls, ast.ClassDef) or not ctx.is_module_class(cls):
                continue
            if id(fn) not in self._facts:
                self._facts[id(fn)] = _FunctionFacts(fn)
            target = f"self.{attrs[0].attr}"
            holds = self._holds_modules(ctx, value, fn, stmt)
            if not holds and _is_empty_container(value):
                holds = self._filled_with_modules(ctx, fn, target, stmt)
            if not holds or self._registered_later(ctx, fn, target, stmt):
                continue
            if _menu_of_choices(cls, attrs[0].attr):
                continue  # `self.backbone = self._pick(name)` picks one entry: the chosen module is registered
            kind = "dict" if isinstance(_unwrap(value), (ast.Dict, ast.DictComp)) else "list"
            wrapper = "nn.ModuleDict" if kind == "dict" else "nn.ModuleList"
            yield self.report(
                ctx, stmt, f"`{target}` holds modules in a plain {kind}: not registered (not trained, moved or saved); use `{wrapper}`"
            )

    # ------------------------------------------------------------------ helpers
    def _holds_modules(self, ctx: Context, value: ast.AST, fn: ast.AST, stmt: ast.AST, depth: int = 0) -> bool:
        value = _unwrap(value)
        if isinstance(value, ast.Name):
            if depth > 2:
                return False
            assigned = self._facts[id(fn)].last_assignment(value.id, stmt)
            if assigned is None:
                return False
            if _is_empty_container(assigned):
                return self._filled_with_modules(ctx, fn, value.id, stmt)
            return self._holds_modules(ctx, assigned, fn, stmt, depth + 1)
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mult):  # [nn.Linear(4, 4)] * 3
            return any(isinstance(side, ast.List) and self._holds_modules(ctx, side, fn, stmt, depth) for side in (value.left, value.right))
        if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
            return any(self._is_module_expr(ctx, e) for e in value.elts)
        if isinstance(value, ast.Dict):
            return any(self._is_module_expr(ctx, v) for v in value.values)
        if isinstance(value, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self._is_module_expr(ctx, value.elt)
        if isinstance(value, ast.DictComp):
            return self._is_module_expr(ctx, value.value)
        return False

    def _is_module_expr(self, ctx: Context, node: ast.AST) -> bool:
        """A constructor of a module that has parameters or buffers (an activation list is harmless)."""
        if isinstance(node, ast.IfExp):
            return self._is_module_expr(ctx, node.body) or self._is_module_expr(ctx, node.orelse)
        if isinstance(node, ast.Starred):
            return False
        if not isinstance(node, ast.Call):
            return False
        q = ctx.call_qualname(node) or ""
        head, _, last = q.rpartition(".")
        if not last:
            return False
        if head in {"torch.nn", "torch.nn.parameter"} or head.startswith("torch.nn.modules"):
            if STATELESS_RE.match(last) and not any(kw.arg in {"weight", "pos_weight", "affine"} for kw in node.keywords):
                return False
            return last[:1].isupper()
        if q.startswith("torchvision.models.") and last[:1].islower():
            return True
        if isinstance(node.func, ast.Name) and last in ctx.module_class_names and q == last:
            return True
        # an imported class named like a module (`from .blocks import ResBlock`)
        return isinstance(node.func, ast.Name) and node.func.id in ctx.imports and bool(MODULE_LIKE_NAME.search(last)) and last[:1].isupper()

    def _filled_with_modules(self, ctx: Context, fn: ast.AST, target: str, stmt: ast.AST) -> bool:
        """`target.append(nn.Linear(...))` / `target[k] = nn.Linear(...)` later in the same function."""
        facts = self._facts[id(fn)]
        for call in facts.fills:
            if dotted(call.func.value) != target or not call.args:  # type: ignore[union-attr]
                continue
            arg = call.args[-1]
            if call.func.attr == "extend":  # type: ignore[union-attr]
                if self._holds_modules(ctx, arg, fn, stmt, depth=3):
                    return True
            elif self._is_module_expr(ctx, arg):
                return True
        for sub_target, assigned in facts.item_assigns:
            if dotted(sub_target) == target and self._is_module_expr(ctx, assigned):
                return True
        return False

    def _registered_later(self, ctx: Context, fn: ast.AST, target: str, stmt: ast.AST) -> bool:
        """Wrapped afterwards (`self.x = nn.ModuleList(self.x)`) or registered by hand (`add_module`)."""
        for call in self._facts[id(fn)].registrations:
            if (call.lineno, call.col_offset) > (stmt.lineno, stmt.col_offset):  # type: ignore[attr-defined]
                if callee_is(call, "add_module", "register_module", "register_parameter"):
                    return True
                if any(dotted(n) == target for a in call.args for n in ast.walk(a) if isinstance(n, (ast.Attribute, ast.Name))):
                    return True
        return False


def _parameter_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    a = fn.args
    names = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)}
    names.update(x.arg for x in (a.vararg, a.kwarg) if x is not None)
    return names


def callee_is(call: ast.Call, *names: str) -> bool:
    f = call.func
    return (f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None) in names


def _unwrap(value: ast.AST) -> ast.AST:
    """`list(gen)` / `tuple(gen)` / `dict(...)` -> the container inside."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in {"list", "tuple", "dict"}:
        if len(value.args) == 1 and not value.keywords:
            return value.args[0]
        if value.func.id == "dict" and not value.args and value.keywords:
            return ast.Dict(keys=[None] * len(value.keywords), values=[k.value for k in value.keywords])
    return value


def _is_empty_container(value: ast.AST) -> bool:
    value = _unwrap(value) if not (isinstance(value, ast.Call) and not value.args and not value.keywords) else value
    if isinstance(value, (ast.List, ast.Tuple)) and not value.elts:
        return True
    if isinstance(value, ast.Dict) and not value.keys:
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in {"list", "dict", "OrderedDict"} and not value.args and not value.keywords


class _FunctionFacts:
    """What one method does with containers, from a single walk of its body."""

    def __init__(self, fn: ast.AST) -> None:
        self.assigns: list[tuple[tuple[int, int], str, ast.AST]] = []
        self.item_assigns: list[tuple[ast.AST, ast.AST]] = []
        self.fills: list[ast.Call] = []
        self.registrations: list[ast.Call] = []
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name):
                        self.assigns.append(((n.lineno, n.col_offset), t.id, n.value))
                    elif isinstance(t, ast.Subscript):
                        self.item_assigns.append((t.value, n.value))
            elif isinstance(n, ast.Call):
                name = n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id if isinstance(n.func, ast.Name) else None
                if name in {"append", "extend", "insert", "add"} and isinstance(n.func, ast.Attribute):
                    self.fills.append(n)
                elif name in WRAPPERS or name in {"add_module", "register_module", "register_parameter"}:
                    self.registrations.append(n)

    def last_assignment(self, name: str, before: ast.AST) -> ast.AST | None:
        pos = (before.lineno, before.col_offset)  # type: ignore[attr-defined]
        best = None
        for at, target, value in self.assigns:
            if target == name and at < pos and (best is None or at > best[0]):
                best = (at, value)
        return best[1] if best else None


def _menu_of_choices(cls: ast.ClassDef, attr: str) -> bool:
    """`self.<attr>` is only read as `self.<attr>[key]` outside forward, and each chosen entry ends up in a module
    attribute: `self.backbone = self.<attr>[name]`, or a method returning it whose result is stored on self
    (SimCLR's `self.resnet_dict = {...}; self.backbone = self._get_basemodel(name)`)."""
    def is_attr(n: ast.AST) -> bool:
        return isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.value, ast.Name) and n.value.id == "self"

    methods = {f.name: f for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    stored_calls = set()  # methods whose result is assigned to a self attribute
    for f in methods.values():
        for n in ast.walk(f):
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                                                 and t.value.id == "self" for t in n.targets):
                v = n.value
                if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and isinstance(v.func.value, ast.Name) \
                        and v.func.value.id == "self":
                    stored_calls.add(v.func.attr)
    uses = 0
    for name, f in methods.items():
        for n in ast.walk(f):
            if not is_attr(n) or not isinstance(n.ctx, ast.Load):
                continue
            uses += 1
            parent = next((p for p in ast.walk(f) if isinstance(p, ast.Subscript) and p.value is n), None)
            if parent is None or name == "forward":
                return False
            stored = any(isinstance(a, ast.Assign) and a.value is parent and any(
                isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self" for t in a.targets)
                for a in ast.walk(f))
            if not stored and name not in stored_calls:
                return False
    return uses > 0
