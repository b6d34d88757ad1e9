"""PT-GRAD007 legacy-data-attribute."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import (
    LOSS_NAME_RE,
    backward_receiver_names,
    in_no_grad,
    is_training_loop,
)

# Weight initialisation, checkpoint loading/conversion, weight tying: `.data` there is harmless.
INIT_FUNC_RE = re.compile(
    r"(init|reset|load|copy|convert|transfer|tie|freeze|prune|quantiz|fuse|from_|setup|build|create|restore|"
    r"sync|broadcast|average|ema|swa|polyak|momentum_update|update_target|soft_update|hard_update)",
    re.IGNORECASE,
)
# Receivers whose `.data` is a plain field, not Tensor.data (datasets, batches, PackedSequence, configs).
NON_TENSOR_RE = re.compile(r"(^self$|data|dataset|loader|batch|packed|pack|args|config|cfg|df|frame|graph|record|item|sample|msg|request|response|json|tokeniz|encoding|field|node)", re.IGNORECASE)
UPDATE_FUNC_RE = re.compile(r"(^|_)(step|update|train|fit|optimi[sz]e)", re.IGNORECASE)
NON_MUTATING_UNDERSCORE = {"requires_grad_", "share_memory_", "retain_grad_", "record_stream_"}


class LegacyDataAttribute(Rule):
    code = "PT-GRAD007"
    name = "legacy-data-attribute"
    severity = Severity.low
    summary = "`.data` used to update or read tensors in training code bypasses autograd's checks"
    why = (
        "`.data` gives an alias that autograd does not track: in-place updates through it are invisible to "
        "the version counter (a tensor saved for backward can change silently and give wrong gradients), "
        "and values read through it are cut from the graph without saying so. `torch.no_grad()` for "
        "updates and `.detach()` for reads do the same job with the safety checks kept."
    )
    fix_text = "Update parameters under `with torch.no_grad():` (`p -= lr * p.grad`); read with `.detach()`."
    bad = (
        "for p in model.parameters():\n"
        "    p.data -= lr * p.grad.data\n"
    )
    good = (
        "with torch.no_grad():\n"
        "    for p in model.parameters():\n"
        "        p -= lr * p.grad\n"
    )

    def check(self, ctx: Context):
        data_attrs = [n for n in ctx.nodes(ast.Attribute) if n.attr == "data"]  # type: ignore[union-attr]
        if not data_attrs:
            return
        apply_callbacks = {dotted(a) for c in ctx.calls("apply") for a in c.args}
        done: set[int] = set()
        for attr in data_attrs:
            stmt = ctx.statement_of(attr)
            if stmt is None or id(stmt) in done:
                continue
            base = dotted(attr.value)  # type: ignore[union-attr]
            base_last = base.rsplit(".", 1)[-1] if base else ""
            if base is not None and NON_TENSOR_RE.search(base_last) and base_last != "grad":
                continue
            if in_no_grad(ctx, attr) or _in_init_code(ctx, attr, apply_callbacks):
                continue
            kind = _risky_use(ctx, attr, stmt)
            if kind is None:
                continue
            done.add(id(stmt))
            yield self.report_at(ctx, stmt.lineno, stmt.col_offset, message=f"{self.summary} ({kind})")


def _in_init_code(ctx: Context, node: ast.AST, apply_callbacks: set[str | None]) -> bool:
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if INIT_FUNC_RE.search(anc.name) or anc.name in apply_callbacks:
                return True
        if isinstance(anc, ast.ClassDef):
            break
    return False


def _mentions_grad(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "grad" for n in ast.walk(node))


def _risky_use(ctx: Context, attr: ast.Attribute, stmt: ast.stmt) -> str | None:
    parent = ctx.parent(attr)
    # p.data -= lr * p.grad ; p.data[idx] += ...
    if isinstance(stmt, ast.AugAssign) and (stmt.target is attr or (isinstance(stmt.target, ast.Subscript) and stmt.target.value is attr)):
        return "in-place update" if _update_context(ctx, stmt) else None
    # p.data.add_(...), p.data.clamp_(-c, c), w.data.copy_(...) outside init code;
    # `p.grad.data.clamp_(-1, 1)` (old DQN tutorial) edits a gradient, which autograd never saved: harmless
    grad_base = isinstance(attr.value, ast.Attribute) and attr.value.attr == "grad"
    if isinstance(parent, ast.Attribute) and parent.value is attr and not grad_base:
        meth = parent.attr
        call = ctx.parent(parent)
        if isinstance(call, ast.Call) and call.func is parent and meth.endswith("_") and not meth.endswith("__") and meth not in NON_MUTATING_UNDERSCORE:
            return "in-place update" if _update_context(ctx, stmt) else None
    # p.data = p.data - lr * p.grad
    if isinstance(stmt, ast.Assign) and any(t is attr for t in stmt.targets):
        if isinstance(attr.value, ast.Attribute) and attr.value.attr == "grad":
            return None  # `p.grad.data = ...`: swapping a gradient's storage/dtype (FSDP, comm hooks)
        arithmetic = any(isinstance(n, ast.BinOp) for n in ast.walk(stmt.value))
        if arithmetic and (_mentions_grad(stmt.value) or _in_loop_with_backward(ctx, stmt)):
            return "assignment"
        return None
    # w = layer.weight.data; w.mul_(...): an in-place update through an alias
    if isinstance(stmt, ast.Assign) and stmt.value is attr and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        alias = stmt.targets[0].id
        if _update_context(ctx, stmt) and _modified_in_place_later(ctx, stmt, alias):
            return "in-place update through an alias"
    # reads feeding the loss in a training loop: `loss = Variable(loss.data, requires_grad=True)`
    if isinstance(stmt, ast.Assign) and isinstance(attr.ctx, ast.Load) and _in_loop_with_backward(ctx, stmt):
        scope = ctx.enclosing_function(stmt) or ctx.tree
        backwarded = backward_receiver_names(ctx, scope)
        if any(isinstance(t, ast.Name) and (t.id in backwarded or LOSS_NAME_RE.search(t.id)) for t in stmt.targets):
            if not _logging_use(ctx, attr):
                return "read feeding the loss: cuts the graph"
    # reads feeding the forward computation: inside nn.Module.forward
    fn = ctx.enclosing_function(attr)
    if fn is not None and fn.name == "forward" and isinstance(attr.ctx, ast.Load) and not isinstance(parent, ast.Attribute):
        # (`self.buf.data.mul_(m)`: an in-place buffer update in forward, e.g. EMA codebooks, is not a read)
        cls = ctx.enclosing_class(fn)
        if cls is not None and ctx.is_module_class(cls) and not _logging_use(ctx, attr):
            return "read in forward(): cuts the graph"
    return None


def _update_context(ctx: Context, stmt: ast.stmt) -> bool:
    """Training-time updates: in a loop that calls backward, using `.grad`, or in an optimizer's step."""
    if _in_loop_with_backward(ctx, stmt) or _mentions_grad(stmt):
        return True
    fn = ctx.enclosing_function(stmt)
    if fn is None:
        return False  # module-level one-off (initialisation, loading)
    if UPDATE_FUNC_RE.search(fn.name):
        return True
    cls = ctx.enclosing_class(fn)
    return cls is not None and any("Optimizer" in (dotted(b) or "") for b in cls.bases)


def _modified_in_place_later(ctx: Context, stmt: ast.stmt, alias: str) -> bool:
    parent = ctx.parent(stmt)
    body = getattr(parent, "body", [])
    if stmt not in body:
        return False
    for later in body[body.index(stmt) + 1:]:
        for n in ast.walk(later):
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == alias:
                return True
            if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                    and n.func.value.id == alias and n.func.attr.endswith("_") and not n.func.attr.endswith("__")
                    and n.func.attr not in NON_MUTATING_UNDERSCORE):
                return True
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == alias for t in n.targets):
                return False
    return False


def _in_loop_with_backward(ctx: Context, node: ast.AST) -> bool:
    return any(is_training_loop(ctx, lp) for lp in ctx.loops_around(node))


def _logging_use(ctx: Context, attr: ast.AST) -> bool:
    for anc in ctx.ancestors(attr):
        if isinstance(anc, ast.Call) and callee_name(anc) in {"item", "tolist", "numpy", "print", "log", "append", "format"}:
            return True
        if isinstance(anc, (ast.stmt, ast.JoinedStr)):
            return isinstance(anc, ast.JoinedStr)
    return False
