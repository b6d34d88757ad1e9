"""PT-LOSS001 softmax-before-cross-entropy (plus the activation dataflow shared with PT-LOSS002)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..analysis import Context, callee_name, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..scopes import assignments_to
from ..semantics import before, last_assignment

# Ops that keep "this tensor holds probabilities": reshapes, casts, moves, clamping.
PASSTHROUGH_METHODS = {
    "view", "reshape", "squeeze", "unsqueeze", "flatten", "float", "double", "half", "to", "type", "contiguous",
    "permute", "transpose", "clamp", "clip", "clamp_", "cuda", "cpu", "view_as", "reshape_as", "type_as",
    "squeeze_", "unsqueeze_",
}
PASSTHROUGH_FUNCS = {"squeeze", "unsqueeze", "flatten", "reshape", "clamp", "clip", "transpose", "permute"}
MODULE_WRAPPERS = {"to", "cuda", "cpu", "float", "double", "half", "train", "eval", "requires_grad_"}
WRAPPER_CALLS = {"DataParallel", "DistributedDataParallel", "compile"}
LAYER_OF = {"softmax": "Softmax", "sigmoid": "Sigmoid", "relu": "ReLU", "linear": "Linear"}  # relu/linear: PT-LOSS003/004
MAX_DEPTH = 24


@dataclass
class Origin:
    """Where probabilities come from: the activation node, and the args of the model call on the way."""

    node: ast.AST
    model_args: list[ast.AST] = field(default_factory=list)
    home: Context | None = None  # the file `node` is in, when it is another file of the reviewed tree


def elsewhere(origin: Origin) -> str:
    """`models.py line 12` for an origin in another file of the reviewed tree."""
    import os

    name = os.path.basename(origin.home.filename) if origin.home is not None else "?"
    return f"{name} line {origin.node.lineno}"  # type: ignore[attr-defined]


def activation_origin(ctx: Context, expr: ast.AST | None, kind: str, depth: int = 0) -> Origin | None:
    """Memoised `_activation_origin` (each node is resolved once per file; cycles resolve to None)."""
    if expr is None or depth > MAX_DEPTH:
        return None
    memo = ctx.__dict__.setdefault("_pp_activation_origin", {})
    key = (id(expr), kind)
    if key not in memo:
        memo[key] = None  # in progress: a cycle back here finds nothing
        memo[key] = _activation_origin(ctx, expr, kind, depth)
    return memo[key]


def foreign(ctx: Context, node: ast.AST) -> bool:
    """Is `node` (an origin found through an imported model class) in another file than `ctx`'s?"""
    return bool(ctx.project.paths) and ctx.project.home(ctx, node) is not ctx


def _activation_origin(ctx: Context, expr: ast.AST | None, kind: str, depth: int = 0) -> Origin | None:
    """If `expr` is the output of `kind` ('softmax' / 'sigmoid'), the activation call or layer that made it.

    Follows plain-name assignments within the function, shape/cast ops, modules called by name (an
    `nn.Softmax`/`nn.Sigmoid` layer, an `nn.Sequential` ending in one, a model class of this file
    whose forward returns one).
    """
    if expr is None or depth > MAX_DEPTH:
        return None
    if isinstance(expr, ast.Name):
        value = last_assignment(ctx, expr.id, expr)
        if value is None:
            unpacked = _tuple_binding(ctx, expr)
            if unpacked is not None:  # ref_logit, grade_probs = model(images)
                call, element = unpacked
                layer = module_output_origin(ctx, call.func, kind, depth + 1, element)
                if layer is not None:
                    return Origin(layer.node, [*call.args, *(k.value for k in call.keywords), *layer.model_args], layer.home)
            return None
        return activation_origin(ctx, value, kind, depth + 1)
    if not isinstance(expr, ast.Call):
        return None
    name = callee_name(expr)
    func = expr.func
    if name == kind and not (isinstance(func, ast.Attribute) and _is_self_attr(func)):
        return Origin(expr)
    if name in PASSTHROUGH_METHODS and isinstance(func, ast.Attribute):
        q = ctx.call_qualname(expr) or ""
        if q.startswith("torch.") and name in PASSTHROUGH_FUNCS:
            return activation_origin(ctx, expr.args[0] if expr.args else None, kind, depth + 1)
        return activation_origin(ctx, func.value, kind, depth + 1)
    if name in PASSTHROUGH_FUNCS and isinstance(func, ast.Name):
        return activation_origin(ctx, expr.args[0] if expr.args else None, kind, depth + 1)
    if name in {"stack", "cat"} and (ctx.call_qualname(expr) or "").startswith("torch.") and expr.args:
        # torch.stack(step_logits, 1): every stacked element carries the same activation (a decoder loop)
        elems = _sequence_elements(ctx, expr.args[0])
        origins = [activation_origin(ctx, e, kind, depth + 1) for e in elems]
        return origins[0] if origins and all(o is not None for o in origins) else None
    # a module called on the inputs: model(x), self.classifier(h), nn.Sigmoid()(x)
    layer = module_output_origin(ctx, func, kind, depth + 1)
    if layer is not None:
        return Origin(layer.node, [*expr.args, *(k.value for k in expr.keywords), *layer.model_args], layer.home)
    return None


def _sequence_elements(ctx: Context, seq: ast.AST) -> list[ast.AST]:
    """The elements of `[a, b]`, or the values appended to a list built empty in the same function."""
    if isinstance(seq, (ast.List, ast.Tuple)):
        return [e for e in seq.elts if not isinstance(e, ast.Starred)]
    if not isinstance(seq, ast.Name):
        return []
    fn = ctx.enclosing_function(seq)
    scope = fn if fn is not None else ctx.tree
    bound, appended = [], []
    for n in ast.walk(scope):
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == seq.id for t in n.targets):
            bound.append(n.value)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) \
                and n.func.value.id == seq.id:
            if n.func.attr != "append" or len(n.args) != 1:
                return []  # extended / inserted / popped: not a plain collection of one kind of value
            appended.append(n.args[0])
    if not bound or not all(isinstance(v, ast.List) and not v.elts for v in bound):
        return []
    return appended


def module_output_origin(ctx: Context, func: ast.AST, kind: str, depth: int, element: int | None = None) -> Origin | None:
    """The activation at the end of the module `func` refers to, if any (memoised like activation_origin)."""
    if depth > MAX_DEPTH:
        return None
    memo = ctx.__dict__.setdefault("_pp_module_origin", {})
    key = (id(func), kind, element)
    if key not in memo:
        memo[key] = None
        memo[key] = _module_output_origin(ctx, func, kind, depth, element)
    return memo[key]


def _module_output_origin(ctx: Context, func: ast.AST, kind: str, depth: int, element: int | None) -> Origin | None:
    if isinstance(func, ast.Call):
        return constructed_module_origin(ctx, func, kind, depth + 1, element)
    name = dotted(func)
    if not name:
        return None
    values = _assigned_values(ctx, func, name)
    if not values and "." not in name:
        only = _only_model_class(ctx)  # `def train(model, ...)` with no call site: the file's one model class
        if only is not None:
            return forward_origin(ctx, only, kind, depth + 1, element)
    origins = [constructed_module_origin(ctx, v, kind, depth + 1, element) for v in values]
    if origins and all(o is not None for o in origins):
        return origins[-1]
    return None


def _only_model_class(ctx: Context) -> ast.ClassDef | None:
    """The single module class of the file that no other class of the file builds (the top-level model)."""
    memo = ctx.__dict__
    if "_pp_only_model_class" not in memo:
        classes = [ctx.classes_by_name[n] for n in ctx.module_class_names if n in ctx.classes_by_name]
        classes = [c for c in classes if any(isinstance(f, ast.FunctionDef) and f.name == "forward" for f in c.body)]
        built_inside = {
            callee_name(call)
            for c in classes
            for call in ast.walk(c)
            if isinstance(call, ast.Call)
        }
        top = [c for c in classes if c.name not in built_inside]
        memo["_pp_only_model_class"] = top[0] if len(top) == 1 else None
    return memo["_pp_only_model_class"]


def constructed_module_origin(
    ctx: Context, value: ast.AST, kind: str, depth: int, element: int | None = None
) -> Origin | None:
    """`nn.Softmax(1)`, `nn.Sequential(..., nn.Sigmoid())`, `Net().to(device)`, `nn.DataParallel(Net())`."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, (ast.Name, ast.Attribute)):
        return module_output_origin(ctx, value, kind, depth + 1, element)  # self.model = model
    if not isinstance(value, ast.Call):
        return None
    name = callee_name(value)
    if name in MODULE_WRAPPERS and isinstance(value.func, ast.Attribute):
        return constructed_module_origin(ctx, value.func.value, kind, depth + 1, element)
    if name in WRAPPER_CALLS and value.args:
        return constructed_module_origin(ctx, value.args[0], kind, depth + 1, element)
    if isinstance(value.func, ast.Name) and value.func.id in ctx.module_class_names:
        return forward_origin(ctx, ctx.classes_by_name[value.func.id], kind, depth + 1, element)
    if isinstance(value.func, ast.Name) and value.func.id in ctx.imports and ctx.project.paths:
        found = ctx.project.resolve_name(ctx, value.func.id)  # a model class from another file of the tree
        if isinstance(found, tuple) and isinstance(found[1], ast.ClassDef) and found[0].is_module_class(found[1]):
            return forward_origin(found[0], found[1], kind, depth + 1, element)
    if element is not None:
        return None  # layers and Sequential return one tensor
    if name == LAYER_OF[kind]:
        return Origin(value)
    if name == "Sequential" and value.args and not isinstance(value.args[-1], ast.Starred):
        return constructed_module_origin(ctx, value.args[-1], kind, depth + 1)
    if name == "Sequential" and len(value.args) == 1 and isinstance(value.args[0], ast.Starred):
        last = _last_list_element(ctx, value.args[0].value, value)  # nn.Sequential(*layers)
        return constructed_module_origin(ctx, last, kind, depth + 1) if last is not None else None
    if isinstance(value.func, ast.Name) and len(ctx.functions_by_name.get(value.func.id, ())) == 1:
        helper = ctx.functions_by_name[value.func.id][0]  # a model-building helper: every return ends in `kind`
        rets = [r.value for r in ast.walk(helper) if isinstance(r, ast.Return) and ctx.enclosing_function(r) is helper]
        if rets and all(r is not None for r in rets):
            origins = [constructed_module_origin(ctx, r, kind, depth + 1) for r in rets]  # type: ignore[arg-type]
            if all(o is not None for o in origins):
                return origins[-1]
    return None


def _last_list_element(ctx: Context, lst: ast.AST, use: ast.AST) -> ast.AST | None:
    """The element a list built by `layers = [...]` / `layers.append(x)` / `layers += [...]` ends with at `use`
    (the last unconditional addition in `use`'s function; None when unknown)."""
    if not isinstance(lst, ast.Name):
        return None
    scope = ctx.enclosing_scope(use)
    last: tuple[tuple[int, int], ast.AST | None] | None = None
    for node in ast.walk(scope):
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.Call)):
            continue
        if ctx.enclosing_scope(node) is not scope or not before(node, use):
            continue
        value: ast.AST | None = ...  # type: ignore[assignment]
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == lst.id for t in node.targets):
            value = node.value.elts[-1] if isinstance(node.value, ast.List) and node.value.elts else None
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == lst.id:
            value = node.value.elts[-1] if isinstance(node.value, ast.List) and node.value.elts else None
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"append", "extend"}
            and isinstance(node.func.value, ast.Name) and node.func.value.id == lst.id and node.args
        ):
            arg = node.args[0]
            if node.func.attr == "append":
                value = arg
            else:
                value = arg.elts[-1] if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts else None
        if value is ...:
            continue
        if any(isinstance(a, (ast.If, ast.Try, ast.IfExp)) for a in ctx.ancestors(node) if ctx.is_inside(a, scope)):
            value = None  # added conditionally: the last element is unknown
        pos = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        if last is None or pos > last[0]:
            last = (pos, value)
    return last[1] if last is not None else None


def forward_origin(ctx: Context, cls: ast.ClassDef, kind: str, depth: int, element: int | None = None) -> Origin | None:
    """Every return of `cls.forward` gives `kind` output, or its `element`-th item when forward returns
    a tuple (returns under an `if` make it ambiguous)."""
    forward = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "forward"), None)
    if forward is None:
        return None
    returns = [r for r in ast.walk(forward) if isinstance(r, ast.Return) and ctx.enclosing_function(r) is forward]
    if not returns:
        return None
    found = None
    for ret in returns:
        if any(isinstance(a, (ast.If, ast.Try)) for a in ctx.ancestors(ret) if ctx.is_inside(a, forward)):
            return None
        value = ret.value
        if element is not None:
            if not isinstance(value, ast.Tuple) or len(value.elts) <= element:
                return None
            value = value.elts[element]
        origin = activation_origin(ctx, value, kind, depth + 1)
        if origin is None:
            return None
        found = origin
    return found


def _arguments_for_parameter(ctx: Context, use: ast.AST, name: str) -> list[ast.AST]:
    """Arguments passed for parameter `name` of the function around `use`, at its call sites in this file
    (`train(net, ...)` for `def train(model, ...)`)."""
    fn = ctx.enclosing_function(use)
    if fn is None:
        return []
    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    if name not in params and name not in [a.arg for a in fn.args.kwonlyargs]:
        return []
    out: list[ast.AST] = []
    for call in ctx.calls(fn.name):
        kw = kwarg_value(call, name)
        if kw is not None:
            out.append(kw)
            continue
        if name not in params or any(isinstance(a, ast.Starred) for a in call.args):
            continue
        index = params.index(name)
        if params and params[0] in {"self", "cls"} and isinstance(call.func, ast.Attribute):
            index -= 1
        if 0 <= index < len(call.args):
            out.append(call.args[index])
    return out


def _tuple_binding(ctx: Context, name: ast.Name) -> tuple[ast.Call, int] | None:
    """(call, position) when `name` was last bound by `a, b = call(...)` in its function."""
    scope = ctx.enclosing_scope(name)
    best: tuple[ast.Assign, int] | None = None
    for node in ctx.nodes(ast.Assign):
        if ctx.enclosing_scope(node) is not scope or not before(node, name):  # type: ignore[arg-type]
            continue
        for target in node.targets:  # type: ignore[union-attr]
            bound = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
            if name.id not in bound:
                continue
            position = None
            if isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in target.elts):
                ids = [e.id if isinstance(e, ast.Name) else None for e in target.elts]
                position = ids.index(name.id) if name.id in ids else None
            if best is None or before(best[0], node):
                best = (node, -1 if position is None else position)  # type: ignore[assignment]
    if best is None or best[1] < 0 or not isinstance(best[0].value, ast.Call):
        return None
    return best[0].value, best[1]


def _is_self_attr(func: ast.Attribute) -> bool:
    return isinstance(func.value, ast.Name) and func.value.id == "self"


def _assigned_values(ctx: Context, use: ast.AST, name: str) -> list[ast.AST]:
    """Values assigned to `name`: `self.x` within the use's class; a plain name in the use's function,
    else anywhere in the file (a model built in main() and passed to train())."""
    if name.startswith("self."):
        cls = ctx.enclosing_class(use)
        out = []
        for node in assignments_to(ctx, name):
            if cls is not None and not ctx.is_inside(node, cls):
                continue
            out.append(node.value)
        return out
    if "." not in name:
        local = last_assignment(ctx, name, use)
        if local is not None:
            return [local]
        passed = _arguments_for_parameter(ctx, use, name)
        if passed:
            return passed
    return [node.value for node in assignments_to(ctx, name)]


def loss_calls(ctx: Context, function_name: str, class_name: str) -> list[tuple[ast.Call, ast.Call]]:
    """(call computing the loss, node to anchor BCE-style findings on) for `F.<function_name>(...)` and
    for instances of `nn.<class_name>` (named, attributes or inline `nn.X()(a, b)`)."""
    out = [(c, c) for c in ctx.calls(function_name)]
    constructions = ctx.calls(class_name)
    if not constructions:
        return out
    built: dict[str, ast.Call] = {}
    for ctor in constructions:
        parent = ctx.parent(ctor)
        if isinstance(parent, ast.Call) and parent.func is ctor:
            out.append((parent, ctor))
        stmt = ctx.statement_of(ctor)
        if isinstance(stmt, ast.Assign) and stmt.value is ctor:
            for t in stmt.targets:
                if dotted(t):
                    built[dotted(t)] = ctor  # type: ignore[index]
    if built:
        for call in ctx.nodes(ast.Call):
            name = dotted(call.func)  # type: ignore[union-attr]
            if name in built:
                out.append((call, built[name]))  # type: ignore[arg-type]
            elif name and name.startswith("self.") and name[5:] in built:
                out.append((call, built[name[5:]]))  # type: ignore[arg-type]
    return out


def loss_input(call: ast.Call) -> ast.AST | None:
    return call.args[0] if call.args else kwarg_value(call, "input")


def loss_target(call: ast.Call) -> ast.AST | None:
    return call.args[1] if len(call.args) > 1 else kwarg_value(call, "target")


class SoftmaxBeforeCrossEntropy(Rule):
    code = "PT-LOSS001"
    name = "softmax-before-cross-entropy"
    severity = Severity.high
    summary = "Probabilities (softmax output) fed to cross-entropy, which applies log_softmax itself"
    why = (
        "`F.cross_entropy` / `nn.CrossEntropyLoss` expect raw logits and apply log_softmax internally. "
        "Feeding softmax probabilities applies softmax twice: the loss can never reach zero, its "
        "gradients shrink as the model gets confident, and training stalls at poor accuracy."
    )
    fix_text = "Pass the logits to the loss; apply softmax only where probabilities are reported."
    bad = (
        "import torch.nn.functional as F\n\n"
        "logits = model(x)\n"
        "probs = F.softmax(logits, dim=1)\n"
        "loss = F.cross_entropy(probs, y)\n"
        "loss.backward()\n"
    )
    good = (
        "import torch.nn.functional as F\n\n"
        "logits = model(x)\n"
        "probs = F.softmax(logits, dim=1)  # reporting only\n"
        "loss = F.cross_entropy(logits, y)\n"
        "loss.backward()\n"
    )

    def check(self, ctx: Context):
        if not (ctx.calls("softmax") or ctx.calls("Softmax")):
            return
        reported: set[int] = set()
        if ctx.calls("cross_entropy") or ctx.calls("CrossEntropyLoss"):
            for call, _ctor in loss_calls(ctx, "cross_entropy", "CrossEntropyLoss"):
                origin = activation_origin(ctx, loss_input(call), "softmax")
                if origin is None or id(origin.node) in reported or foreign(ctx, origin.node):
                    continue  # (a model of another file is reported in that file)
                reported.add(id(origin.node))
                yield self.report(
                    ctx,
                    origin.node,
                    f"Softmax output reaches the cross-entropy loss on line {call.lineno}, which applies log_softmax itself",
                )
        yield from self._model_trained_elsewhere(ctx, reported)

    def _model_trained_elsewhere(self, ctx: Context, reported: set[int]):
        """A model class of this file whose forward ends in softmax, trained with cross-entropy in another file of
        the tree (`from .models import Classifier` in trainer.py): reported at the softmax, here."""
        import os

        proj = ctx.project
        if not proj.paths:
            return
        here = os.path.abspath(ctx.filename)
        for cls in ctx.nodes(ast.ClassDef):
            if not ctx.is_module_class(cls):  # type: ignore[arg-type]
                continue
            origin = forward_origin(ctx, cls, "softmax", 0)  # type: ignore[arg-type]
            if origin is None or id(origin.node) in reported:
                continue
            for path in proj.paths:
                text = proj.text(path) if path != here else None
                if not text or cls.name not in text or not ("cross_entropy" in text or "CrossEntropyLoss" in text):  # type: ignore[attr-defined]
                    continue
                other = proj.context(path)
                if other is None:
                    continue
                hit = next((call for call, _ in loss_calls(other, "cross_entropy", "CrossEntropyLoss")
                            if (o := activation_origin(other, loss_input(call), "softmax")) is not None
                            and o.node is origin.node), None)
                if hit is not None:
                    reported.add(id(origin.node))
                    yield self.report(
                        ctx, origin.node,
                        f"Softmax output reaches the cross-entropy loss in {os.path.basename(path)} (line {hit.lineno}), "
                        "which applies log_softmax itself",
                    )
                    break
