"""Small helpers shared by the rules-api rules (tensor-valued names, loops, calls). Not a rule module."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..semantics import DATAISH_RE, is_model_expr, is_module_constructor, loop_iter_text, mutually_exclusive, name_bindings

# torch functions that return a new tensor
TENSOR_FACTORIES = frozenset({
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm",
    "arange", "linspace", "logspace", "eye", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
    "randn_like", "randint_like", "stack", "cat", "concat", "concatenate", "where", "matmul", "bmm", "mm",
    "normal", "bernoulli", "multinomial", "tril", "triu", "clone", "exp", "log", "sigmoid", "tanh", "softmax",
    "einsum", "outer", "sum", "mean",
})
# methods that only exist on tensors (a receiver that has them is a tensor)
TENSOR_ONLY_METHODS = frozenset({"detach", "clone", "contiguous", "unsqueeze", "squeeze", "view", "permute", "transpose",
                                 "float", "long", "half", "double", "int", "bool", "bfloat16", "softmax", "masked_fill",
                                 "expand", "repeat", "flatten", "reshape", "narrow", "cuda", "cpu", "to"})
LOADER_WORD_RE = DATAISH_RE
# tensor methods that return something other than a tensor
NON_TENSOR_METHODS = frozenset({"item", "tolist", "numpy", "size", "dim", "numel", "data_ptr", "element_size", "stride",
                                "is_contiguous", "get_device", "storage", "untyped_storage", "chunk", "split", "unbind",
                                "type", "__len__", "nelement", "ndimension", "is_floating_point", "backward"})


def is_torch_tensor_call(ctx: Context, node: ast.AST | None) -> bool:
    """`torch.randn(...)`, `torch.tensor(...)`, `F.one_hot(...)`: a call that returns a fresh tensor."""
    if not isinstance(node, ast.Call):
        return False
    q = ctx.call_qualname(node) or ""
    if q.startswith("torch.") and q.count(".") == 1 and q.rsplit(".", 1)[-1] in TENSOR_FACTORIES:
        return True
    return q in {"torch.nn.functional.one_hot", "torch.nn.functional.pad", "torch.nn.functional.softmax"}


def binding_value(ctx: Context, expr: ast.AST) -> tuple[ast.stmt, ast.expr | None] | None:
    """The latest binding of a name before its use, in the same function (else module level), never the
    statement that contains the use (`state = torch.tensor(state)` reads the previous `state`)."""
    name = dotted(expr) if isinstance(expr, (ast.Name, ast.Attribute)) else None
    if not name:
        return None
    scope = ctx.enclosing_function(expr)
    pos = (expr.lineno, expr.col_offset)  # type: ignore[attr-defined]
    best = fallback = None
    for stmt, value in name_bindings(ctx).get(name, ()):
        if (stmt.lineno, stmt.col_offset) >= pos or ctx.is_inside(expr, stmt) or mutually_exclusive(ctx, stmt, expr):
            continue  # later, the use's own statement, or the other branch of an if/else
        s_scope = ctx.enclosing_function(stmt)
        if s_scope is scope:
            best = (stmt, value)
        elif s_scope is None:
            fallback = (stmt, value)
    if best is None and scope is not None and any(a.arg == name for a in ast.walk(scope.args) if isinstance(a, ast.arg)):
        return None  # a parameter: unknown
    return best or fallback


def loop_binding(ctx: Context, name: str, node: ast.AST) -> ast.For | ast.AsyncFor | None:
    """The enclosing `for` loop whose target binds `name`, if any."""
    from ..analysis import target_names

    for loop in ctx.loops_around(node):
        if isinstance(loop, (ast.For, ast.AsyncFor)) and name in target_names(loop.target):
            return loop
    return None


def is_known_tensor(ctx: Context, expr: ast.AST, depth: int = 0, loader_items: bool = True) -> bool:
    """Is `expr` known (from this file) to hold a tensor, not a module? Conservative: False when unsure.
    With `loader_items=False`, parts of batches from a loop are not assumed to be tensors."""
    if depth > 4 or (not loader_items and isinstance(expr, (ast.Name, ast.Subscript)) and _loop_item_based(ctx, expr)):
        return False
    if isinstance(expr, ast.Call):
        if is_torch_tensor_call(ctx, expr):
            return True
        if isinstance(expr.func, ast.Attribute) and callee_name(expr) in {"detach", "clone", "contiguous", "unsqueeze",
                                                                       "squeeze", "view", "permute", "masked_fill", "softmax"}:
            return not is_model_expr(ctx, expr.func.value)
        if isinstance(expr.func, ast.Attribute) and callee_name(expr) not in NON_TENSOR_METHODS:
            return is_known_tensor(ctx, expr.func.value, depth + 1)
        return False
    if isinstance(expr, ast.BinOp):
        return is_known_tensor(ctx, expr.left, depth + 1) or is_known_tensor(ctx, expr.right, depth + 1)
    if isinstance(expr, ast.Subscript):
        return is_loader_item(ctx, expr.value, whole_batch=True) or is_known_tensor(ctx, expr.value, depth + 1) and not is_model_expr(ctx, expr.value)
    if not isinstance(expr, ast.Name):
        return False
    if is_model_expr(ctx, expr):
        return False
    if is_loader_item(ctx, expr):
        return True
    b = binding_value(ctx, expr)
    if b is None:
        return False
    stmt, value = b
    if value is None:
        # `x, y = batch` with batch a loader item or a step function's `batch` parameter: the parts are tensors
        whole = getattr(stmt, "value", None)
        targets = getattr(stmt, "targets", [])
        return (
            isinstance(whole, ast.Name) and len(targets) == 1 and isinstance(targets[0], ast.Tuple)
            and (is_loader_item(ctx, whole, whole_batch=True) or _batch_parameter(ctx, whole))
        )
    if isinstance(value, ast.Call) and is_module_constructor(ctx, value):
        return False
    return is_known_tensor(ctx, value, depth + 1)


def is_loader_item(ctx: Context, expr: ast.AST, whole_batch: bool = False) -> bool:
    """A name bound by unpacking a loader's batch, `for x, y in loader:` / `for i, (x, y) in enumerate(train_loader):`,
    not rebound since. A whole batch (`for batch in loader:`) only counts with `whole_batch` (it may be a
    BatchEncoding or a PyG `Data`, whose `.to()` works in place)."""
    if not isinstance(expr, ast.Name):
        return False
    loop = loop_binding(ctx, expr.id, expr)
    if loop is None:
        return False
    if not whole_batch and _bound_whole(loop, expr.id):
        return False
    text = loop_iter_text(loop)
    if not LOADER_WORD_RE.search(text) or any(w in text for w in ("models", "modules", "children", "parameters")):
        return False
    b = binding_value(ctx, expr)
    return b is None or not ctx.is_inside(b[0], loop)


BATCH_PARAM_NAMES = {"batch", "inputs_targets", "sample", "minibatch", "mini_batch", "batch_data"}


def _batch_parameter(ctx: Context, name: ast.Name) -> bool:
    """`def training_step(self, batch, ...)`: the batch a step function receives (not rebound before the use)."""
    fn = ctx.enclosing_function(name)
    if fn is None or name.id not in BATCH_PARAM_NAMES:
        return False
    return any(a.arg == name.id for a in fn.args.args + fn.args.kwonlyargs) and binding_value(ctx, name) is None


def _loop_item_based(ctx: Context, expr: ast.AST) -> bool:
    base = expr
    while isinstance(base, ast.Subscript):
        base = base.value
    return isinstance(base, ast.Name) and loop_binding(ctx, base.id, base) is not None


def _bound_whole(loop: ast.For | ast.AsyncFor, name: str) -> bool:
    """`for batch in ...` / `for i, batch in enumerate(...)`: the name is the whole batch, not an unpacked part."""
    target = loop.target
    if isinstance(target, ast.Name):
        return target.id == name
    enumerated = isinstance(loop.iter, ast.Call) and callee_name(loop.iter) == "enumerate"
    if enumerated and isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(target.elts[1], ast.Name):
        return target.elts[1].id == name  # (index, batch)
    return False


def num_workers_nonzero(call: ast.Call) -> bool:
    """`num_workers=4`, `num_workers=args.workers` (not 0, not absent)."""
    for kw in call.keywords:
        if kw.arg == "num_workers":
            v = kw.value
            if isinstance(v, ast.Constant):
                return isinstance(v.value, int) and not isinstance(v.value, bool) and v.value > 0
            return True
    return len(call.args) >= 6 and not (isinstance(call.args[5], ast.Constant) and call.args[5].value == 0)


def target_torch(ctx: Context) -> tuple[int, int]:
    """The torch version the reviewed code targets (`target-torch` in the config; default 2.6), as (major, minor).

    Read defensively: the setting may reach the context under a few names, or not at all.
    """
    raw = None
    for holder in (ctx, getattr(ctx, "config", None), getattr(ctx, "project", None)):
        if holder is None:
            continue
        for attr in ("target_torch", "target-torch"):
            raw = getattr(holder, attr, None)
            if raw:
                break
        if raw:
            break
    if isinstance(raw, tuple) and len(raw) >= 2 and all(isinstance(v, int) for v in raw[:2]):
        return raw[0], raw[1]  # `ctx.target_torch`, already parsed
    try:
        parts = str(raw or "2.6").split(".")
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except (ValueError, IndexError):
        return (2, 6)
