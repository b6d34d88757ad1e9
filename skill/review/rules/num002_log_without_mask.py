"""PT-NUM002 log-without-mask."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, dotted
from ..models import Severity
from ..rule import Rule

PROB_FUNCS = {"softmax", "sigmoid"}
# methods that select from / reshape a probability tensor without changing its values
PASS_THROUGH = {"gather", "squeeze", "unsqueeze", "view", "reshape", "index_select", "take_along_dim", "flatten", "float", "double", "to", "detach", "contiguous", "t", "transpose", "permute", "select"}
GUARDS = {"clamp", "clamp_min", "clip", "clamp_", "clamp_min_", "clip_", "maximum", "max", "where", "nan_to_num", "masked_fill", "log_softmax"}
SAFE_NAME_RE = re.compile(r"(cut|clip|clamp|safe|stable|eps|smooth)", re.I)
PROB_NAME_RE = re.compile(r"(^|_)(probs?|probas?|probabilit(y|ies))(_|$)", re.I)


class LogWithoutMask(Rule):
    code = "PT-NUM002"
    name = "log-without-mask"
    severity = Severity.low
    # opt-in: even restricted to softmax/sigmoid outputs and probability-named values, most such logs
    # are on values that never reach 0 in practice (the catalogue calls this check very noisy)
    default_enabled = False
    summary = "`torch.log` of a probability that can be exactly 0 (softmax/sigmoid output) gives -inf"
    why = (
        "softmax and sigmoid outputs underflow to exactly 0 in float32 (and much sooner in fp16), so "
        "`log(p)` becomes -inf and the loss or its gradient turns into inf/NaN. Only the log of a "
        "probability that can reach 0 is flagged, not every log call."
    )
    fix_text = (
        "Compute in log space (`F.log_softmax`, `F.logsigmoid`, `BCEWithLogits`), or clamp first: "
        "`torch.log(p.clamp_min(1e-8))`."
    )
    bad = "import torch\nimport torch.nn.functional as F\n\nlogits = torch.randn(4, 3)\np = F.softmax(logits, dim=1)\nlogp = torch.log(p)\n"
    good = "import torch\nimport torch.nn.functional as F\n\nlogits = torch.randn(4, 3)\nlogp = F.log_softmax(logits, dim=1)\n"

    def check(self, ctx: Context):
        for call in ctx.calls("log"):
            if not isinstance(call.func, ast.Attribute):
                continue
            q = ctx.call_qualname(call) or ""
            if q == "torch.log" and len(call.args) == 1:
                arg = call.args[0]
            elif q != "torch.log" and not call.args and not call.keywords and not q.startswith(("math.", "numpy.", "np.")):
                arg = call.func.value  # `p.log()`
            else:
                continue
            if self._risky(ctx, call, arg, depth=0):
                yield self.report(ctx, call)

    def _risky(self, ctx: Context, call: ast.Call, arg: ast.AST, depth: int) -> bool:
        base = _strip(arg)
        if isinstance(base, ast.Call):
            return self._is_prob_call(ctx, base)
        if isinstance(base, (ast.Name, ast.Attribute)):
            name = dotted(base) or ""
            last = name.rsplit(".", 1)[-1]
            if last.lower().startswith("log"):
                return False
            value = _last_assignment(ctx, call, name) if isinstance(base, ast.Name) else None
            if value is not None:
                if _guarded(value) or _guarded_in_place(ctx, call, name):
                    return False
                if isinstance(_strip(value), ast.Call) and self._is_prob_call(ctx, _strip(value)):
                    return True
            if not isinstance(base, ast.Name) or SAFE_NAME_RE.search(last):
                return False  # `self.probs` of a distribution class; `cut_probs`, `safe_probs`
            return bool(PROB_NAME_RE.search(last)) and not _guarded_in_place(ctx, call, name)
        return False

    def _is_prob_call(self, ctx: Context, node: ast.Call) -> bool:
        if not isinstance(node.func, (ast.Attribute, ast.Name)):
            return False
        fname = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if fname not in PROB_FUNCS:
            return False
        q = ctx.call_qualname(node) or ""
        return q.startswith("torch.") or isinstance(node.func, ast.Attribute)


def _strip(node: ast.AST) -> ast.AST:
    """Peel value-preserving selections: `p[:, 0]`, `p.gather(1, y)`, `p.squeeze()`."""
    for _ in range(8):
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PASS_THROUGH:
            node = node.func.value
        else:
            break
    return node


def _guarded(value: ast.AST) -> bool:
    """Is the value clamped, shifted by an epsilon, or otherwise kept away from 0?"""
    for n in ast.walk(value):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            return True
        if isinstance(n, ast.Call):
            fn = n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id if isinstance(n.func, ast.Name) else ""
            if fn in GUARDS:
                return True
    return False


def _scope_body(ctx: Context, node: ast.AST) -> ast.AST:
    fn = ctx.enclosing_function(node)
    return fn if fn is not None else ctx.tree


def _last_assignment(ctx: Context, call: ast.Call, name: str) -> ast.AST | None:
    """The value last assigned to `name` before `call` in the same function (`p += eps` as `p + eps`)."""
    best: ast.stmt | None = None
    pos = (call.lineno, call.col_offset)
    for n in ast.walk(_scope_body(ctx, call)):
        if not isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or (n.lineno, n.col_offset) >= pos:
            continue
        targets = n.targets if isinstance(n, ast.Assign) else [n.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            if best is None or (n.lineno, n.col_offset) > (best.lineno, best.col_offset):
                best = n
    if best is None:
        return None
    if isinstance(best, ast.AugAssign):
        return ast.BinOp(left=ast.Name(id=name), op=best.op, right=best.value)
    return best.value


def _guarded_in_place(ctx: Context, call: ast.Call, name: str) -> bool:
    """`p.clamp_(min=eps)` / `p.add_(eps)` on the same name before the log call."""
    for n in ast.walk(_scope_body(ctx, call)):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in {"clamp_", "clamp_min_", "clip_", "add_", "nan_to_num_"}
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == name
            and (n.lineno, n.col_offset) < (call.lineno, call.col_offset)
        ):
            return True
    return False
