"""PT-SHAPE002 hard-coded-batch-dim."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, const_value
from ..models import Severity
from ..rule import Rule

# factories whose results have a fixed, known size: reshaping them with literals is fine
CONSTANT_FACTORIES = {
    "arange", "zeros", "ones", "rand", "randn", "randint", "tensor", "as_tensor", "from_numpy", "linspace",
    "logspace", "empty", "full", "eye", "Tensor", "FloatTensor", "LongTensor", "randperm", "load",
}
HIDDEN_STATE_RE = re.compile(r"(^|_)(h0|c0|hx|cx|hn|cn|h_n|c_n|hidden|hiddens|cell|state|states|weight|weights|bias|kernel)(_|$)", re.I)


def _literal_int(node: ast.AST) -> int | None:
    v = const_value(node)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class HardCodedBatchDim(Rule):
    code = "PT-SHAPE002"
    name = "hard-coded-batch-dim"
    severity = Severity.medium
    summary = "view/reshape with a literal batch dimension"
    why = (
        "A literal leading dimension bakes one batch size into the model: the last partial batch of an "
        "epoch (drop_last=False), evaluation with another batch size or single-sample inference then "
        "fail with a shape error, or silently mix samples when the element count happens to match."
    )
    fix_text = "Use `-1` or the runtime size: `x.view(-1, 1, 28, 28)` / `x.view(x.size(0), 1, 28, 28)`."
    bad = (
        "import torch.nn as nn\n\n\nclass Decoder(nn.Module):\n    def forward(self, z):\n"
        "        return self.net(z).view(64, 1, 28, 28)\n"
    )
    good = (
        "import torch.nn as nn\n\n\nclass Decoder(nn.Module):\n    def forward(self, z):\n"
        "        return self.net(z).view(-1, 1, 28, 28)\n"
    )

    def check(self, ctx: Context):
        candidates = ctx.calls("view", "reshape")
        if not candidates:
            return
        batch_sizes: set[int] | None = None  # computed on first need
        for call in candidates:
            if not isinstance(call.func, ast.Attribute):
                continue
            q = ctx.call_qualname(call) or ""
            if q == "torch.reshape":
                if len(call.args) != 2:
                    continue
                subject, shape = call.args[0], [call.args[1]]
            elif q.startswith(("numpy.", "torch.")):
                continue
            else:
                subject, shape = call.func.value, call.args
            if len(shape) == 1 and isinstance(shape[0], (ast.Tuple, ast.List)):
                shape = shape[0].elts
            if len(shape) < 2 or any(isinstance(s, ast.Starred) for s in shape):
                continue
            first = _literal_int(shape[0])
            if first is None or first <= 1:
                continue
            # 2-4 lead structural shapes (directions, views, q/k/v, RGB) far more often than batches:
            # only when the file uses that number as its batch size
            if first < 5:
                if batch_sizes is None:
                    batch_sizes = _batch_size_constants(ctx)
                if first not in batch_sizes:
                    continue
            # one (3, H, W) image, or a tensor reshaped for plotting/saving: not a batch dimension
            if (first == 3 and len(shape) == 3) or self._for_display(ctx, call):
                continue
            if not (self._in_forward(ctx, call) or ctx.loops_around(call)):
                continue
            if self._constant_subject(ctx, subject, call):
                continue
            yield self.report(
                ctx, call, f"`.{call.func.attr}({first}, ...)` hard-codes the batch size; use -1 or x.size(0)"
            )

    @staticmethod
    def _for_display(ctx: Context, call: ast.Call) -> bool:
        node: ast.AST = call
        for _ in range(6):
            parent = ctx.parent(node)
            if isinstance(parent, ast.Attribute) and parent.attr in {"numpy", "tolist", "cpu", "detach", "permute", "squeeze"}:
                node = ctx.parent(parent) or parent
                if isinstance(parent, ast.Attribute) and parent.attr in {"numpy", "tolist"}:
                    return True
                continue
            if isinstance(parent, ast.Call) and parent.func is not node:
                f = parent.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                return name in {"imshow", "save_image", "make_grid", "add_image", "add_images", "plot", "imsave", "savefig"}
            return False
        return False

    @staticmethod
    def _in_forward(ctx: Context, node: ast.AST) -> bool:
        fn = ctx.enclosing_function(node)
        return fn is not None and fn.name == "forward"

    def _constant_subject(self, ctx: Context, node: ast.AST, at: ast.AST, depth: int = 0) -> bool:
        """Is the reshaped value a fixed-size constant, a parameter/buffer or one indexed sample?"""
        while True:
            if isinstance(node, ast.Call):
                q = ctx.call_qualname(node) or ""
                last = q.rsplit(".", 1)[-1]
                if (q.startswith("torch.") and last in CONSTANT_FACTORIES) or q.startswith(("numpy.", "np.")):
                    return True
                if isinstance(node.func, ast.Attribute):
                    node = node.func.value
                    continue
                return False
            if isinstance(node, ast.Subscript):
                if depth == 0 and not isinstance(node.slice, (ast.Slice, ast.Tuple)):
                    return True  # `images[i].view(28, 28)`: one sample (not `x = batch[0]`, the batch)
                node = node.value
                continue
            if isinstance(node, ast.Attribute):
                root = node
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id == "self":
                    return True  # a parameter or buffer of the module
                if HIDDEN_STATE_RE.search(node.attr):
                    return True
                node = node.value
                continue
            if isinstance(node, ast.Name):
                if HIDDEN_STATE_RE.search(node.id):
                    return True  # LSTM states: (num_layers * directions, B, H) lead with a literal legitimately
                if depth >= 2:
                    return False
                value = _last_assignment(ctx, node.id, at)
                return value is not None and self._constant_subject(ctx, value, at, depth + 1)
            return False


def _batch_size_constants(ctx: Context) -> set[int]:
    """Integers the file uses as a batch size: `batch_size=4`, `BATCH_SIZE = 4`, `--batch-size ... default=4`."""
    out: set[int] = set()
    for kw in ctx.nodes(ast.keyword):
        arg = kw.arg or ""  # type: ignore[union-attr]
        if "batch" in arg.lower():
            v = _literal_int(kw.value)  # type: ignore[union-attr]
            if v is not None:
                out.add(v)
    for stmt in ctx.nodes(ast.Assign):
        if any(isinstance(t, ast.Name) and "batch" in t.id.lower() for t in stmt.targets):  # type: ignore[union-attr]
            v = _literal_int(stmt.value)  # type: ignore[union-attr]
            if v is not None:
                out.add(v)
    for call in ctx.calls("add_argument"):
        if call.args and "batch" in str(const_value(call.args[0], "")).lower():
            for kw in call.keywords:
                if kw.arg == "default" and _literal_int(kw.value) is not None:
                    out.add(_literal_int(kw.value))  # type: ignore[arg-type]
    return out


def _last_assignment(ctx: Context, name: str, at: ast.AST) -> ast.AST | None:
    fn = ctx.enclosing_function(at)
    scope = fn if fn is not None else ctx.tree
    stmt = ctx.statement_of(at)
    pos = (stmt.lineno, stmt.col_offset) if stmt is not None else (0, 0)
    best = None
    for n in ast.walk(scope):
        if isinstance(n, ast.Assign) and (n.lineno, n.col_offset) < pos:
            if any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
                if best is None or (n.lineno, n.col_offset) > (best.lineno, best.col_offset):
                    best = n
    return best.value if best is not None else None
