"""PT-GRAD004 inplace-breaks-autograd."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, is_true, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import in_no_grad, is_module_like_class, is_training_loop, walk_scope

# Ops whose backward uses their *output* (derivatives.yaml: `result`): modifying that output in place
# makes backward fail with "modified by an inplace operation".
OUTPUT_SAVING = {"relu", "sigmoid", "tanh", "softmax", "log_softmax", "exp", "exp2", "expm1", "sqrt", "rsqrt", "reciprocal", "expit"}
OUTPUT_SAVING_INPLACE = {n + "_" for n in OUTPUT_SAVING}
OUTPUT_SAVING_MODULES = {"ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"}
# Layers and ops whose backward uses their *input* (weight gradients of linear/conv, the statistics of the
# norms, both operands of a matmul): editing that input in place afterwards fails the same way.
INPUT_SAVING_MODULES = {
    "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LayerNorm", "GroupNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d",
}
INPUT_SAVING_FUNCS = {
    "torch.nn.functional.linear", "torch.nn.functional.conv1d", "torch.nn.functional.conv2d",
    "torch.nn.functional.conv3d", "torch.nn.functional.layer_norm", "torch.nn.functional.group_norm",
    "torch.nn.functional.batch_norm", "torch.nn.functional.rms_norm", "torch.matmul", "torch.mm", "torch.bmm",
}
MUTATION_ALLOWED = "allow_mutation_on_saved_tensors"
# Tensor methods ending in `_` that do not change the tensor's data.
NON_MUTATING_UNDERSCORE = {"requires_grad_", "share_memory_", "retain_grad_", "detach_", "record_stream_"}
INIT_FUNC_RE = re.compile(r"(__init__|init|reset_parameters)", re.IGNORECASE)
# Module methods that run only at inference time (no backward through them).
INFERENCE_FUNC_RE = re.compile(
    r"(predict|infer|postprocess|post_process|decode|generate|sample|eval|test|visuali|plot|draw|metric|export)", re.IGNORECASE
)


class InplaceBreaksAutograd(Rule):
    code = "PT-GRAD004"
    name = "inplace-breaks-autograd"
    severity = Severity.high
    summary = "in-place op on a tensor autograd saved for backward (output of relu/sigmoid/tanh/softmax/exp, input of a norm/linear/conv/matmul)"
    why = (
        "relu, sigmoid, tanh, softmax and exp compute their gradient from their own output, so autograd "
        "saves that tensor. Modifying it in place afterwards (`+=`, `.add_()`, `x[i] = ...`, an in-place "
        "activation) bumps its version counter and backward raises 'one of the variables needed for "
        "gradient computation has been modified by an inplace operation'. The same holds for the input "
        "of a norm, linear, conv or matmul, which those layers save to compute their gradients "
        "(`h = self.norm(x); x += self.attn(h)`). Code run under "
        "`torch.autograd.graph.allow_mutation_on_saved_tensors()` is exempt (autograd keeps a copy)."
    )
    fix_text = "Use the out-of-place form (`out = out + identity`), or do the in-place op before the activation."
    bad = (
        "class Block(nn.Module):\n"
        "    def forward(self, x):\n"
        "        out = F.relu(self.bn(self.conv(x)))\n"
        "        out += x\n"
        "        return out\n"
    )
    good = (
        "class Block(nn.Module):\n"
        "    def forward(self, x):\n"
        "        out = self.bn(self.conv(x))\n"
        "        out += x\n"
        "        return F.relu(out)\n"
    )

    def check(self, ctx: Context):
        saving_attrs = _output_saving_module_attrs(ctx)
        input_attrs = _input_saving_module_attrs(ctx)
        self._input_attrs = input_attrs
        self._mutation_allowed = MUTATION_ALLOWED in ctx.source
        names = OUTPUT_SAVING | OUTPUT_SAVING_INPLACE | {a.rsplit(".", 1)[-1] for a in saving_attrs}
        names |= {a.rsplit(".", 1)[-1] for a in input_attrs} | {q.rsplit(".", 1)[-1] for q in INPUT_SAVING_FUNCS}
        producers = ctx.calls(*names)
        if self._input_attrs or "@" in ctx.source:
            producers = producers + [b for b in ctx.nodes(ast.BinOp) if isinstance(b.op, ast.MatMult)]  # type: ignore[union-attr]
        if not producers:
            return  # cheap gate: nothing in the file saves its output for backward
        scopes: dict[int, ast.AST] = {}
        for call in producers:
            scope = ctx.enclosing_function(call) or ctx.tree
            scopes.setdefault(id(scope), scope)
        for scope in sorted(scopes.values(), key=lambda n: getattr(n, "lineno", 0)):
            if isinstance(scope, ast.Module):
                yield from self._check_scope(ctx, scope, False, saving_attrs)
                continue
            if INIT_FUNC_RE.search(scope.name):  # type: ignore[attr-defined]
                continue
            cls = ctx.enclosing_class(scope)
            in_module = is_module_like_class(ctx, cls) and not INFERENCE_FUNC_RE.search(scope.name)  # type: ignore[attr-defined]
            yield from self._check_scope(ctx, scope, in_module, saving_attrs)

    def _check_scope(self, ctx: Context, scope: ast.AST, in_module: bool, saving_attrs: set[str]):
        saved: dict[str, ast.AST] = {}  # name -> statement that made it an output-saving result
        saved_inputs: dict[str, tuple[ast.AST, str]] = {}  # name -> (statement, layer) that saved it as an input
        stmts = sorted((n for n in walk_scope(scope) if isinstance(n, ast.stmt)), key=lambda n: (n.lineno, n.col_offset))
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            relevant = in_module or any(is_training_loop(ctx, lp) for lp in ctx.loops_around(stmt))
            victim = _inplace_victim(ctx, stmt, saving_attrs)
            if isinstance(stmt, ast.AugAssign) and victim is not None:
                for name, layer in _saved_inputs_of(ctx, stmt.value, self._input_attrs):
                    if name == victim:
                        saved_inputs[name] = (stmt, layer)  # `x += self.fc(x)`: fc saved x, then x changes
            if victim is not None and self._mutation_allowed and (in_module or _under_mutation_allowed(ctx, stmt)):
                victim = None  # autograd keeps a copy of whatever is mutated
            if victim is not None and victim in saved_inputs and victim not in saved and relevant and not in_no_grad(ctx, stmt):
                site, layer = saved_inputs[victim]
                if not _exclusive_branches(ctx, site, stmt):
                    yield self.report_at(
                        ctx, stmt.lineno, stmt.col_offset,
                        f"in-place edit of `{victim}`, which {layer} on line {site.lineno} saved as its input for "  # type: ignore[attr-defined]
                        "backward: backward will raise 'modified by an inplace operation'; write it out of place",
                    )
                    saved_inputs.pop(victim)
                    continue
            if victim is not None and victim in saved and relevant and not in_no_grad(ctx, stmt):
                if not _exclusive_branches(ctx, saved[victim], stmt):
                    yield self.report_at(ctx, stmt.lineno, stmt.col_offset)
                    saved.pop(victim)
                    continue
            # inputs saved by the layers this statement calls (before its own targets are rebound)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr, ast.Return, ast.AugAssign)):
                for name, layer in _saved_inputs_of(ctx, stmt, self._input_attrs):
                    saved_inputs[name] = (stmt, layer)
            # update the saved-output state after this statement
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = stmt.value
                makes_saved = value is not None and _is_output_saving(ctx, value, saving_attrs)
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            saved_inputs.pop(n.id, None)  # `x = x + h` makes a new x: the saved one is untouched
                    if isinstance(t, ast.Name):
                        if makes_saved:
                            saved[t.id] = stmt
                        else:
                            saved.pop(t.id, None)
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                name = callee_name(call)
                if name in OUTPUT_SAVING_INPLACE and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
                    saved[call.func.value.id] = stmt  # `x.sigmoid_()` saves its result: x itself
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                for n in ast.walk(stmt.target):
                    if isinstance(n, ast.Name):
                        saved.pop(n.id, None)
                        saved_inputs.pop(n.id, None)


def _output_saving_module_attrs(ctx: Context) -> set[str]:
    """`self.act` attributes assigned an nn.ReLU/Sigmoid/Tanh/Softmax module (any inplace setting)."""
    out = set()
    for node in ctx.nodes(ast.Assign):
        value = node.value  # type: ignore[union-attr]
        if isinstance(value, ast.Call):
            q = ctx.call_qualname(value) or ""
            if q.startswith("torch.nn.") and q.rsplit(".", 1)[-1] in OUTPUT_SAVING_MODULES:
                for t in node.targets:  # type: ignore[union-attr]
                    name = dotted(t)
                    if name:
                        out.add(name)
    return out


def _input_saving_module_attrs(ctx: Context) -> set[str]:
    """`self.norm` / `self.fc` attributes assigned an nn.LayerNorm / Linear / Conv / BatchNorm module."""
    out = set()
    for node in ctx.nodes(ast.Assign):
        value = node.value  # type: ignore[union-attr]
        if isinstance(value, ast.Call):
            q = ctx.call_qualname(value) or ""
            if q.startswith("torch.nn.") and q.rsplit(".", 1)[-1] in INPUT_SAVING_MODULES:
                for t in node.targets:  # type: ignore[union-attr]
                    name = dotted(t)
                    if name:
                        out.add(name)
    return out


def _saved_input_calls(ctx: Context, stmt: ast.AST, input_attrs: set[str]):
    """(plain-name input, layer description) for each input-saving call in `stmt` (not in nested defs)."""
    for n in ast.walk(stmt):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult):
            for side in (n.left, n.right):
                if isinstance(side, ast.Name):
                    yield side.id, "a matmul (`@`)"
            continue
        if not isinstance(n, ast.Call) or not n.args or not isinstance(n.args[0], ast.Name):
            continue
        d = dotted(n.func)
        q = ctx.call_qualname(n) or ""
        if d in input_attrs:
            yield n.args[0].id, f"`{d}`"
        elif q in INPUT_SAVING_FUNCS:
            yield n.args[0].id, f"`{q.replace('torch.nn.functional.', 'F.')}`"
            if q in {"torch.matmul", "torch.mm", "torch.bmm"} and len(n.args) > 1 and isinstance(n.args[1], ast.Name):
                yield n.args[1].id, f"`{q}`"


def _saved_inputs_of(ctx: Context, stmt: ast.AST, input_attrs: set[str]) -> list[tuple[str, str]]:
    return list(_saved_input_calls(ctx, stmt, input_attrs))


def _under_mutation_allowed(ctx: Context, node: ast.AST) -> bool:
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)):
            for item in anc.items:
                e = item.context_expr
                if isinstance(e, ast.Call) and callee_name(e) == MUTATION_ALLOWED:
                    return True
    return False


def _inplace_module_attrs(ctx: Context) -> set[str]:
    """Names assigned a `...(inplace=True)` layer in the file (computed once per file)."""
    got = ctx.__dict__.get("_pp_inplace_module_attrs")
    if got is None:
        got = ctx.__dict__["_pp_inplace_module_attrs"] = _find_inplace_module_attrs(ctx)
    return got


def _find_inplace_module_attrs(ctx: Context) -> set[str]:
    out = set()
    for node in ctx.nodes(ast.Assign):
        value = node.value  # type: ignore[union-attr]
        if isinstance(value, ast.Call) and is_true(kwarg_value(value, "inplace")):
            for t in node.targets:  # type: ignore[union-attr]
                name = dotted(t)
                if name:
                    out.add(name)
    return out


def _is_output_saving(ctx: Context, value: ast.AST, saving_attrs: set[str]) -> bool:
    if not isinstance(value, ast.Call):
        return False
    name = callee_name(value)
    func = value.func
    if isinstance(func, ast.Attribute):
        q = ctx.call_qualname(value) or ""
        if q.startswith("torch.") and name in OUTPUT_SAVING | OUTPUT_SAVING_INPLACE:
            return True  # torch.sigmoid(x), F.relu(x), torch.softmax(x, -1)
        if not q.startswith(("torch.", "numpy.", "math.", "np.")) and name in OUTPUT_SAVING | OUTPUT_SAVING_INPLACE:
            head = dotted(func.value) or ""
            if head.split(".", 1)[0] not in ctx.imports:
                return True  # x.sigmoid(), logits.softmax(-1)
        d = dotted(func)
        if d in saving_attrs:
            return True  # self.relu(x) with self.relu = nn.ReLU()
    elif isinstance(func, ast.Name) and func.id in saving_attrs:
        return True
    return False


def _inplace_victim(ctx: Context, stmt: ast.stmt, saving_attrs: set[str]) -> str | None:
    """The local name a statement modifies in place, if any."""
    if isinstance(stmt, ast.AugAssign):
        t = stmt.target
        if isinstance(t, ast.Name):
            return t.id
        if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
            return t.value.id
        return None
    if isinstance(stmt, ast.Assign):
        for t in stmt.targets:
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                return t.value.id
        value = stmt.value
    elif isinstance(stmt, ast.Expr):
        value = stmt.value
    else:
        return None
    if not isinstance(value, ast.Call):
        return None
    name = callee_name(value) or ""
    func = value.func
    if isinstance(func, ast.Attribute) and name.endswith("_") and not name.endswith("__") and name not in NON_MUTATING_UNDERSCORE:
        if isinstance(func.value, ast.Name) and func.value.id not in ctx.imports:
            return func.value.id  # out.add_(identity), attn.masked_fill_(mask, 0)
        q = ctx.call_qualname(value) or ""
        if q.startswith("torch.") and value.args and isinstance(value.args[0], ast.Name):
            return value.args[0].id  # torch.relu_(x), F.relu_(x)
    q = ctx.call_qualname(value) or ""
    if q.startswith("torch.nn.functional.") and is_true(kwarg_value(value, "inplace")) and value.args and isinstance(value.args[0], ast.Name):
        return value.args[0].id  # F.relu(x, inplace=True), F.dropout(attn, p, inplace=True)
    d = dotted(func)
    if d and d in _inplace_module_attrs(ctx) and value.args and isinstance(value.args[0], ast.Name):
        return value.args[0].id  # self.relu(x) with nn.ReLU(inplace=True)
    return None


def _exclusive_branches(ctx: Context, a: ast.AST, b: ast.AST) -> bool:
    """Are `a` and `b` in different branches of the same if/else (never both executed)?"""
    for anc in ctx.ancestors(a):
        if isinstance(anc, (ast.If, ast.Try)) and ctx.is_inside(b, anc):
            a_in_body = any(ctx.is_inside(a, s) or a is s for s in anc.body)
            b_in_body = any(ctx.is_inside(b, s) or b is s for s in anc.body)
            return a_in_body != b_in_body
    return False
