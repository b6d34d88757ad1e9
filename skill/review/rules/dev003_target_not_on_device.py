"""PT-DEV003 target-not-on-device."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, kwarg_value, target_names
from ..models import Severity
from ..rule import Rule

LOSS_NAME_RE = re.compile(
    r"(loss|criterion|cross_entropy|nll|mse|l1|bce|kl_div|huber|ctc|margin|hinge|focal|dice|accuracy|metric|f1|iou|ssim)",
    re.IGNORECASE,
)
TO_HOST = {"cpu", "numpy", "item", "tolist"}
# Tensor methods that keep a tensor where it is (rebinding `y = y.long()` does not move it).
SAME_DEVICE_METHODS = {
    "long", "float", "int", "half", "double", "bool", "view", "reshape", "squeeze", "unsqueeze", "flatten",
    "contiguous", "type", "clone", "detach", "permute", "transpose", "view_as", "reshape_as", "argmax", "max",
}
ITER_WRAPPERS = {"enumerate", "tqdm", "iter", "progress_bar", "track"}


def _moves(call: ast.AST) -> bool:
    """`.to(<not cpu>)` or `.cuda()`."""
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return False
    name = call.func.attr
    if name == "cuda":
        return True
    if name != "to" and name != "to_device":
        return False
    target = call.args[0] if call.args else kwarg_value(call, "device")
    if isinstance(target, ast.Constant) and isinstance(target.value, str) and target.value.startswith("cpu"):
        return False
    if target is not None and _is_dtype(target):
        return False  # `x.to(torch.float16)` casts, it does not move
    return target is not None


DTYPES = {
    "float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "uint8", "int16", "int32",
    "int64", "long", "int", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2",
}


def _is_dtype(expr: ast.AST) -> bool:
    """`torch.float16`, `torch.bfloat16`, a name like `dtype` / `amp_dtype` / `self.dtype`."""
    name = dotted(expr) or ""
    last = name.rsplit(".", 1)[-1]
    if name.startswith("torch.") and last in DTYPES:
        return True
    return bool(re.search(r"(^|_)dtype$", last))


def _root(expr: ast.AST) -> str | None:
    """`y` for `y`, `y.long().view(-1)`, `y[0]`, `batch["y"]`."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.Attribute) or isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            expr = expr.func.value
        else:
            return None


def _root_name(dotted_name: str) -> str:
    return dotted_name.split(".", 1)[0]


def _pos(node: ast.AST) -> tuple[int, int]:
    return (node.lineno, node.col_offset)  # type: ignore[attr-defined]


class TargetNotOnDevice(Rule):
    code = "PT-DEV003"
    name = "target-not-on-device"
    severity = Severity.high
    summary = "Batch inputs are moved to the device but the targets are not, and meet device outputs in the loss"
    why = (
        "The model's outputs live on the GPU while the labels stay on the CPU, so the loss or metric raises "
        "'Expected all tensors to be on the same device' on the first GPU batch. CPU-only tests pass, which is "
        "why this bug ships."
    )
    fix_text = "Move inputs and targets together: `x, y = x.to(device), y.to(device)`."
    bad = (
        "for x, y in loader:\n    x = x.to(device)\n    loss = F.cross_entropy(model(x), y)\n    loss.backward()\n"
    )
    good = (
        "for x, y in loader:\n    x, y = x.to(device), y.to(device)\n    loss = F.cross_entropy(model(x), y)\n"
        "    loss.backward()\n"
    )

    def check(self, ctx: Context):
        if not ctx.calls("to") and not ctx.calls("cuda"):
            return
        loss_callees = self._loss_callee_names(ctx)
        for loop in ctx.nodes(ast.For, ast.AsyncFor):
            d = self._check_loop(ctx, loop, loss_callees)  # type: ignore[arg-type]
            if d is not None:
                yield d

    @staticmethod
    def _loss_callee_names(ctx: Context) -> set[str]:
        """Names bound to loss modules (`crit = nn.CrossEntropyLoss()`), whatever they are called."""
        out = set()
        for stmt in ctx.nodes(ast.Assign):
            v = stmt.value  # type: ignore[attr-defined]
            if isinstance(v, ast.Call) and (callee_name(v) or "").endswith("Loss") and callee_name(v) != "CTCLoss":
                for t in stmt.targets:  # type: ignore[attr-defined]
                    if isinstance(t, (ast.Name, ast.Attribute)):
                        out.add(dotted(t))
        return out

    def _batch_names(self, loop: ast.For) -> tuple[list[str], str | None]:
        target = loop.target
        it = loop.iter
        if isinstance(it, ast.Call) and callee_name(it) == "enumerate" and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            target = target.elts[1]
        if isinstance(target, (ast.Tuple, ast.List)):
            return target_names(target), None
        if isinstance(target, ast.Name):
            names: list[str] = []
            for stmt in ast.walk(loop):
                if isinstance(stmt, ast.Assign) and _root(stmt.value) == target.id or (
                    isinstance(stmt, ast.Assign)
                    and isinstance(stmt.value, ast.Tuple)
                    and stmt.value.elts
                    and all(_root(e) == target.id for e in stmt.value.elts)
                ):
                    for t in stmt.targets:
                        names.extend(target_names(t))
            return names, target.id
        return [], None

    def _check_loop(self, ctx: Context, loop: ast.For, loss_callees: set[str]):
        names, container = self._batch_names(loop)
        names = [n for n in dict.fromkeys(names) if n != "_"]
        if len(names) < 2 or self._iter_moves_batch(ctx, loop):
            return None
        body_nodes = [n for stmt in loop.body for n in ast.walk(stmt)]
        # where each batch name (or the whole batch) is moved or rebound by a helper
        moved_at: dict[str, tuple[int, int]] = {}
        first_move: dict[str, ast.AST] = {}
        for node in body_nodes:
            if isinstance(node, ast.Call) and _moves(node):
                root = _root(node.func.value)  # type: ignore[attr-defined]
                if container is not None and isinstance(node.func.value, ast.Name) and root == container:  # type: ignore[attr-defined]
                    return None  # the whole batch is moved
                if root in names:
                    moved_at.setdefault(root, _pos(node))
                    first_move.setdefault(root, node)
            elif isinstance(node, ast.Assign):
                value = node.value
                bound = [n for t in node.targets for n in target_names(t)]
                if container is not None and container in bound and not isinstance(value, ast.Name):
                    return None  # batch = move(batch) / {k: v.to(device) ...}
                # `a, b = x.to(d), y` pairs targets with values element by element
                pairs: list[tuple[str, ast.AST]] = []
                for t in node.targets:
                    if isinstance(t, ast.Tuple) and isinstance(value, ast.Tuple) and len(t.elts) == len(value.elts):
                        for el, v in zip(t.elts, value.elts):
                            pairs.extend((n, v) for n in target_names(el))
                    else:
                        pairs.extend((n, value) for n in target_names(t))
                for name, v in pairs:
                    if name not in names:
                        continue
                    move = next((c for c in ast.walk(v) if _moves(c)), None)
                    if move is not None or self._helper_rebinds(v, names):
                        moved_at.setdefault(name, _pos(node))
                        if move is not None:
                            first_move.setdefault(name, move)
        if not first_move:
            return None
        unmoved = [n for n in names if n not in moved_at]
        if not unmoved:
            return None
        device_names = set(moved_at) & set(first_move)
        # forward pass over assignments: names derived from device tensors
        for node in body_nodes:
            if isinstance(node, ast.Assign) and self._on_device(node.value, device_names):
                for t in node.targets:
                    device_names.update(n for n in target_names(t) if n not in unmoved)
        for node in body_nodes:
            if not isinstance(node, (ast.Call, ast.Compare)):
                continue
            operands = self._operands(node, loss_callees)
            if operands is None:
                continue
            target_ops = [o for o in operands if _root(o) in unmoved and not self._on_device(o, device_names)]
            if not target_ops:
                continue
            if not any(self._on_device(o, device_names) for o in operands if o not in target_ops):
                continue
            t_name = _root(target_ops[0])
            if t_name in moved_at and moved_at[t_name] < _pos(node):
                continue
            if isinstance(node, ast.Call) and self._callee_moves(ctx, node, t_name):
                continue  # `compute_loss(model, x, y)` whose body moves `y` (`y.to(logits.device)`)
            if self._fed_to_model(body_nodes, t_name, device_names, loss_callees):
                return None
            anchor = min(first_move.values(), key=_pos)
            moved = ", ".join(sorted(first_move))
            return self.report(
                ctx,
                anchor,
                f"`{moved}` moved to the device but `{t_name}` from the same batch is not; they meet in "
                f"line {node.lineno}",
            )
        return None

    @staticmethod
    def _callee_moves(ctx: Context, call: ast.Call, name: str) -> bool:
        """The function `call` runs (a helper of the tree) moves the argument `name` to a device itself."""
        eff = ctx.project.effects_at(ctx, call)
        return eff is not None and any(_root_name(m) == name for m in eff.moves)

    @staticmethod
    def _iter_moves_batch(ctx: Context, loop: ast.For) -> bool:
        """A device-placing loader wrapper or a collate_fn that moves the batch."""
        it = loop.iter
        while isinstance(it, ast.Call) and callee_name(it) in ITER_WRAPPERS and it.args:
            it = it.args[0]
        text = ctx.segment(it)
        if re.search(r"(device|cuda|gpu|prefetch)", text, re.IGNORECASE):
            return True
        if isinstance(it, ast.Name):
            from ..semantics import latest_binding

            b = latest_binding(ctx, it.id, loop)
            if b is not None and b[1] is not None:
                is_loader = isinstance(b[1], ast.Call) and (callee_name(b[1]) or "").endswith("DataLoader")
                if not is_loader and re.search(r"(device|cuda|gpu|prefetch)", ctx.segment(b[1]), re.IGNORECASE):
                    return True  # DeviceDataLoader(dl, device), prefetcher(...)
                if isinstance(b[1], ast.Call):
                    collate = kwarg_value(b[1], "collate_fn")
                    if collate is not None:
                        fn = ctx.functions_by_name.get(dotted(collate) or "", [])
                        if any(_moves(c) for f in fn for c in ast.walk(f)) or re.search(r"(device|cuda)", ctx.segment(collate), re.IGNORECASE):
                            return True
        return False

    @staticmethod
    def _helper_rebinds(value: ast.AST, names: list[str]) -> bool:
        """`x, y = to_device(x, y)` or `y = prepare(y)`: a helper we cannot see into probably moves it."""
        if not isinstance(value, (ast.Call, ast.Tuple)):
            return isinstance(value, (ast.ListComp, ast.DictComp, ast.GeneratorExp))
        calls = [value] if isinstance(value, ast.Call) else [e for e in value.elts if isinstance(e, ast.Call)]
        for call in calls:
            name = callee_name(call)
            if isinstance(call.func, ast.Attribute) and name in SAME_DEVICE_METHODS:
                continue
            if any(isinstance(a, ast.Name) and a.id in names for a in call.args):
                return True
        return False

    @staticmethod
    def _on_device(expr: ast.AST, device_names: set[str]) -> bool:
        """Does `expr` hold a device tensor (a moved name or a `.to()` result, not sent back to the host)?"""
        stack: list[tuple[ast.AST, bool]] = [(expr, False)]
        while stack:
            node, hosted = stack.pop()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TO_HOST:
                hosted = True
            if not hosted:
                if isinstance(node, ast.Name) and node.id in device_names:
                    return True
                if _moves(node):
                    return True
            if isinstance(node, (ast.Lambda, ast.FunctionDef)):
                continue
            stack.extend((c, hosted) for c in ast.iter_child_nodes(node))
        return False

    def _operands(self, node: ast.AST, loss_callees: set[str]) -> list[ast.AST] | None:
        """The tensors a loss/metric call or comparison combines, or None if `node` is neither."""
        if isinstance(node, ast.Compare):
            if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                return [node.left, *node.comparators]
            return None
        call: ast.Call = node  # type: ignore[assignment]
        name = callee_name(call) or ""
        fname = dotted(call.func) or ""
        args = [a for a in call.args if not isinstance(a, ast.Starred)] + [k.value for k in call.keywords if k.arg]
        if isinstance(call.func, ast.Attribute) and name in {"eq", "ne"}:
            return [call.func.value, *args]
        if fname in loss_callees or LOSS_NAME_RE.search(name):
            if name in {"item", "backward", "append"} or "ctc" in (name + fname).lower():
                return None  # CTC: targets and lengths may (for cuDNN: must) stay on the CPU
            return args
        return None

    def _fed_to_model(self, body_nodes, t_name, device_names, loss_callees) -> bool:
        """`model(x, labels=y)`: models that compute the loss move the labels themselves."""
        for node in body_nodes:
            if not isinstance(node, ast.Call) or self._operands(node, loss_callees) is not None:
                continue
            if isinstance(node.func, ast.Attribute) and node.func.attr in SAME_DEVICE_METHODS | TO_HOST | {"size", "numel", "to"}:
                continue
            args = list(node.args) + [k.value for k in node.keywords]
            if any(_root(a) == t_name for a in args) and any(self._on_device(a, device_names) for a in args):
                return True
        return False
