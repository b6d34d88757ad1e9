"""PyTorch-specific meaning on top of the syntax: training loops, grad-disabled regions, eval code.

Shared by many rules; each helper is a small pure function of a `Context` and nodes.
"""

from __future__ import annotations

import ast
import re

from .analysis import Context, callee_name, dotted, is_true, kwarg_value, receiver, target_names

NO_GRAD_CALLS = {"no_grad", "inference_mode"}
EVAL_FUNC_RE = re.compile(r"(^|_)(eval|evaluate|evaluation|valid|validate|validation|val|test|predict|inference|infer)(_|$)", re.I)
EVAL_DATA_RE = re.compile(r"(val|valid|validation|test|eval|dev|holdout)", re.I)
# Framework hooks in which the framework sets train/eval mode and grad mode itself.
FRAMEWORK_EVAL_HOOKS = {"validation_step", "test_step", "predict_step", "on_validation_epoch_end", "validation_epoch_end"}


def is_grad_disabling_with_item(ctx: Context, item: ast.withitem) -> bool:
    """`with torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(False)`."""
    expr = item.context_expr
    if not isinstance(expr, ast.Call):
        return False
    name = callee_name(expr)
    if name in NO_GRAD_CALLS:
        mode = expr.args[0] if expr.args else kwarg_value(expr, "mode")
        return not (name == "inference_mode" and mode is not None and isinstance(mode, ast.Constant) and mode.value is False)
    if name == "set_grad_enabled":
        arg = expr.args[0] if expr.args else kwarg_value(expr, "mode")
        return isinstance(arg, ast.Constant) and arg.value is False
    return False


def has_grad_disabling_decorator(ctx: Context, fn: ast.AST) -> bool:
    for dec in getattr(fn, "decorator_list", ()):
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = dotted(target) or ""
        if name.rsplit(".", 1)[-1] in NO_GRAD_CALLS:
            return True
    return False


def in_no_grad(ctx: Context, node: ast.AST) -> bool:
    """Is `node` lexically inside a grad-disabled region (with-block or decorated function)?

    Looks through enclosing functions too (a nested function defined under no_grad runs there only
    if called there, but that is the common closure case).
    """
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)) and child in anc.body:
            if any(is_grad_disabling_with_item(ctx, it) for it in anc.items):
                return True
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_grad_disabling_decorator(ctx, anc):
            return True
        child = anc
    return False


def backward_calls(ctx: Context) -> list[ast.Call]:
    """`loss.backward()`, `scaler.scale(loss).backward()`, `torch.autograd.backward(...)`."""
    return [c for c in ctx.calls("backward") if isinstance(c.func, ast.Attribute)]


def training_loops(ctx: Context) -> list[ast.AST]:
    """Loops whose body (directly or nested) calls backward() or optimizer.step(): training loops.

    Returned innermost-first per backward call, de-duplicated, in source order.
    """
    loops: dict[int, ast.AST] = {}
    for call in backward_calls(ctx):
        for loop in ctx.loops_around(call):
            loops[id(loop)] = loop
    return sorted(loops.values(), key=lambda n: (n.lineno, n.col_offset))


def is_training_loop(ctx: Context, loop: ast.AST) -> bool:
    return any(ctx.is_inside(c, loop) for c in backward_calls(ctx))


def is_eval_function_name(name: str) -> bool:
    return bool(EVAL_FUNC_RE.search(name)) and name not in FRAMEWORK_EVAL_HOOKS


def loop_iter_name(loop: ast.AST) -> str:
    """Source-ish text of what a for loop iterates over (`val_loader`, `enumerate(test_dl)`)."""
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        return " ".join(filter(None, (dotted(n) for n in ast.walk(loop.iter) if isinstance(n, (ast.Name, ast.Attribute)))))
    return ""


def is_cuda_availability_test(ctx: Context, expr: ast.AST) -> bool:
    """Does `expr` test for CUDA availability (`torch.cuda.is_available()`, `args.cuda`, `use_cuda`...)?"""
    for n in ast.walk(expr):
        if isinstance(n, ast.Call) and callee_name(n) in {"is_available", "device_count"}:
            return True
        name = dotted(n) if isinstance(n, (ast.Name, ast.Attribute)) else None
        if name and re.search(r"(cuda|gpu)", name.rsplit(".", 1)[-1], re.I):
            return True
    return False


def is_guarded_by_cuda_check(ctx: Context, node: ast.AST) -> bool:
    """Is `node` under an `if`/ternary/`and` that tests CUDA availability (either branch)?"""
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.If, ast.IfExp, ast.While)) and child is not anc.test:
            if is_cuda_availability_test(ctx, anc.test):
                return True
        if isinstance(anc, ast.BoolOp) and any(is_cuda_availability_test(ctx, v) for v in anc.values if v is not child):
            return True
        child = anc
    return False


def call_receiver_name(call: ast.Call) -> str | None:
    """`model.eval()` -> 'model'; `self.model.eval()` -> 'self.model'."""
    recv = receiver(call)
    return dotted(recv) if recv is not None else None


def sets_training_flag(call: ast.Call) -> bool | None:
    """True for `.train()`/`.train(True)`, False for `.eval()`/`.train(False)`, None otherwise."""
    name = callee_name(call)
    if name == "eval" and not call.args and isinstance(call.func, ast.Attribute):
        return False
    if name == "train" and isinstance(call.func, ast.Attribute):
        if not call.args:
            mode = kwarg_value(call, "mode")
            return True if mode is None else is_true(mode) if isinstance(mode, ast.Constant) else True
        arg = call.args[0]
        if isinstance(arg, ast.Constant):
            return bool(arg.value)
        return True
    return None


# ---------------------------------------------------------------------- helpers for autofixes
def module_alias(ctx: Context, module: str) -> str | None:
    """The local name a module-level `import <module> [as alias]` binds to `module`, if never rebound.

    Fixes that write `torch.xxx` use it so the new text resolves exactly as the code imported torch.
    """
    for stmt in ctx.tree.body:
        if not isinstance(stmt, ast.Import):
            continue
        for alias in stmt.names:
            if alias.asname and alias.name == module:
                bound = alias.asname
            elif not alias.asname and "." not in module and (alias.name == module or alias.name.startswith(module + ".")):
                bound = module
            else:
                continue
            if bound not in ctx.assigned_names:
                return bound
    return None


def open_paren_position(ctx: Context, call: ast.Call) -> tuple[int, int] | None:
    """(line, 0-based char col) just after the `(` of `call`; None if a comment sits in between."""
    from .rule import char_col

    line = call.func.end_lineno
    col = char_col(ctx, line, call.func.end_col_offset)
    while line <= (call.end_lineno or line):
        text = ctx.line_text(line)
        while col < len(text):
            ch = text[col]
            if ch == "(":
                return line, col + 1
            if ch not in " \t\\":
                return None
            col += 1
        line, col = line + 1, 0
    return None


def insert_first_argument(ctx: Context, call: ast.Call, text: str):
    """An Edit that puts `text` first in the call's argument list (adding `, ` when others follow)."""
    from .models import Edit

    pos = open_paren_position(ctx, call)
    if pos is None:
        return None
    sep = ", " if (call.args or call.keywords) else ""
    return Edit(line=pos[0], col=pos[1] + 1, end_line=pos[0], end_col=pos[1] + 1, content=text + sep)


def append_keyword_argument(ctx: Context, call: ast.Call, text: str):
    """An Edit that adds `, name=value` right after the call's last argument (trailing commas stay valid)."""
    from .models import Edit
    from .rule import char_col

    last = max(
        [*call.args, *call.keywords],
        key=lambda n: (n.end_lineno, n.end_col_offset),
        default=None,
    )
    if last is None:
        return None
    line = last.end_lineno
    col = char_col(ctx, line, last.end_col_offset)
    return Edit(line=line, col=col + 1, end_line=line, end_col=col + 1, content=", " + text)


# ---------------------------------------------------------------- paths, scripts, dataflow (REP/AMP/OPT/LOSS/PERF)
def branch_of(ctx: Context, node: ast.AST) -> list[tuple[ast.AST, str]]:
    """The conditional branches `node` sits in, innermost first: (if/try/match node, branch label)."""
    out: list[tuple[ast.AST, str]] = []
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.If, ast.IfExp)):
            if child is not anc.test:
                body = anc.body if isinstance(anc.body, list) else [anc.body]
                out.append((anc, "body" if child in body else "orelse"))
        elif isinstance(anc, ast.Try) and child not in anc.body and child not in anc.finalbody:
            out.append((anc, f"handler{id(child)}" if child in anc.handlers else "orelse"))
        elif isinstance(anc, ast.match_case):
            out.append((ctx.parent(anc), f"case{id(anc)}"))
        child = anc
    return out


def mutually_exclusive(ctx: Context, a: ast.AST, b: ast.AST) -> bool:
    """Do `a` and `b` sit on different branches of one if/else (or try handlers, match cases), or
    under two ifs whose tests contradict (`if args.det:` ... `if not args.det:`, `x is None` / `x is not None`,
    `mode == "a"` / `mode == "b"`)?"""
    branches_a, branches_b = branch_of(ctx, a), branch_of(ctx, b)
    labels_b = {id(n): label for n, label in branches_b}
    for n, label in branches_a:
        other = labels_b.get(id(n))
        if other is not None and other != label:
            return True
    facts_b = [_branch_fact(n, label) for n, label in branches_b if isinstance(n, ast.If)]
    for n, label in branches_a:
        if isinstance(n, ast.If):
            fact = _branch_fact(n, label)
            if any(_contradict(fact, f) for f in facts_b):
                return True
    return False


def _branch_fact(node: ast.If, label: str) -> tuple[str, bool, ast.expr]:
    """(normalised test, holds?, test) for being in `label` of `if test:`; `not x` -> (x, not holds)."""
    test, holds = node.test, label == "body"
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, holds = test.operand, not holds
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.IsNot, ast.NotEq)):
        flipped = ast.Compare(left=test.left, ops=[ast.Is() if isinstance(test.ops[0], ast.IsNot) else ast.Eq()], comparators=test.comparators)
        test, holds = flipped, not holds
    return ast.dump(test), holds, test


def _contradict(f1: tuple[str, bool, ast.expr], f2: tuple[str, bool, ast.expr]) -> bool:
    if f1[0] == f2[0]:
        return f1[1] != f2[1]
    t1, t2 = f1[2], f2[2]
    # `x == "a"` and `x == "b"` both holding
    if f1[1] and f2[1] and isinstance(t1, ast.Compare) and isinstance(t2, ast.Compare):
        if len(t1.ops) == len(t2.ops) == 1 and isinstance(t1.ops[0], ast.Eq) and isinstance(t2.ops[0], ast.Eq):
            c1, c2 = t1.comparators[0], t2.comparators[0]
            return (
                ast.dump(t1.left) == ast.dump(t2.left)
                and isinstance(c1, ast.Constant) and isinstance(c2, ast.Constant) and c1.value != c2.value
            )
    return False


def is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":`"""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    return any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts) and any(
        isinstance(p, ast.Constant) and p.value == "__main__" for p in parts
    )


def is_runnable_training_script(ctx: Context) -> bool:
    """A file that trains when run: it calls backward() and has a `__main__` guard or a module-level
    loop that calls backward() (library modules and inference scripts are not)."""
    backs = backward_calls(ctx)
    if not backs:
        return False
    if any(is_main_guard(n) for n in ctx.tree.body):
        return True
    for call in backs:
        if ctx.enclosing_scope(call) is ctx.tree and ctx.loops_around(call):
            return True
    return False


def innermost_loop(ctx: Context, node: ast.AST) -> ast.AST | None:
    loops = ctx.loops_around(node)
    return loops[0] if loops else None


def before(a: ast.AST, b: ast.AST) -> bool:
    """Does `a` start before `b` in the source?"""
    return (a.lineno, a.col_offset) < (b.lineno, b.col_offset)  # type: ignore[attr-defined]


def last_assignment(ctx: Context, name: str, use: ast.AST, scope: ast.AST | None = None) -> ast.expr | None:
    """The value last assigned to the plain name `name` before `use`, in `use`'s function (or module).

    Only simple `name = value` statements count; a tuple-unpacking or augmented binding returns None
    (value unknown), as does a name never assigned in that scope.
    """
    scope = scope if scope is not None else ctx.enclosing_scope(use)
    best: ast.AST | None = None
    best_value: ast.expr | None = None
    for node in ast.walk(scope):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With, ast.NamedExpr)):
            targets: list[ast.AST]
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                targets = [node.target]
            elif isinstance(node, ast.For):
                targets = [node.target]
            else:
                targets = [it.optional_vars for it in node.items if it.optional_vars is not None]
            for t in targets:
                if isinstance(t, ast.Name) and t.id == name:
                    value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) else None
                elif name in {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}:
                    value = None
                else:
                    continue
                if before(node, use) and (best is None or before(best, node)):
                    if ctx.enclosing_scope(node) is scope:
                        best, best_value = node, value
    return best_value


# ---------------------------------------------------------------- device placement, loaders, checkpoints
# (used by the DEV/DATA/IO rules)
CUDA_STRING_RE = re.compile(r"^cuda(:\d+)?$")
DEVICE_GUARD_NAME_RE = re.compile(r"(cuda|gpu|cpu|mps|device|accelerat)", re.I)
EXIT_CALLS = {"exit", "_exit", "quit", "skip", "skipTest", "fail"}


def is_cuda_string(node: ast.AST | None) -> bool:
    """A literal 'cuda' / 'cuda:N' string."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(CUDA_STRING_RE.match(node.value))


def is_device_guard_test(ctx: Context, expr: ast.AST) -> bool:
    """A condition that chooses by device: availability checks, `args.cuda`, `device.type == 'cuda'`, `use_gpu`..."""
    if is_cuda_availability_test(ctx, expr):
        return True
    for n in ast.walk(expr):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith(("cuda", "cpu", "mps")):
            return True
        if isinstance(n, (ast.Name, ast.Attribute)):
            name = dotted(n)
            if name and DEVICE_GUARD_NAME_RE.search(name.rsplit(".", 1)[-1]):
                return True
    return False


def _exits(body: list[ast.stmt]) -> bool:
    """Does this block end by leaving (return/raise/continue/break/sys.exit/pytest.skip)?"""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
        return True
    return isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and callee_name(last.value) in EXIT_CALLS


def is_device_guarded(ctx: Context, node: ast.AST) -> bool:
    """Is `node` reached only on a device-checked path?

    Enclosing `if`/ternary/`and`/`while` on a device test (either branch), a decorator such as
    `@skipIf(not TEST_CUDA)`, a function/class named for CUDA (`forward_cuda`), or an earlier
    `if not torch.cuda.is_available(): return/raise/skip` / `assert torch.cuda.is_available()` in an
    enclosing block.
    """
    child: ast.AST = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.If, ast.IfExp, ast.While)) and child is not anc.test:
            if is_device_guard_test(ctx, anc.test):
                return True
        elif isinstance(anc, ast.BoolOp):
            if any(is_device_guard_test(ctx, v) for v in anc.values if v is not child):
                return True
        elif isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if re.search(r"(cuda|gpu|nccl)", anc.name, re.I):
                return True
            if any(is_device_guard_test(ctx, d) for d in anc.decorator_list):
                return True
        if isinstance(anc, ast.Try) and child in anc.body and any(_catches_device_errors(h) for h in anc.handlers):
            return True  # try: x = x.cuda() except RuntimeError: ... is a fallback
        for field in ("body", "orelse", "finalbody"):
            block = getattr(anc, field, None)
            if isinstance(block, list) and child in block:
                for stmt in block[: block.index(child)]:
                    if isinstance(stmt, ast.If) and is_device_guard_test(ctx, stmt.test) and _exits(stmt.body):
                        return True
                    if isinstance(stmt, ast.Assert) and is_cuda_availability_test(ctx, stmt.test):
                        return True
                break
        child = anc
    return False


CUDA_RUNTIME_CALLS = (
    "synchronize", "max_memory_allocated", "memory_allocated", "reset_peak_memory_stats", "Stream",
    "current_stream", "get_device_name", "get_device_properties", "CUDAGraph", "graph",
)


def _catches_device_errors(handler: ast.ExceptHandler) -> bool:
    """`except:`, `except Exception`, `except (RuntimeError, AssertionError)`... (not KeyboardInterrupt)."""
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    names = {(dotted(t) or "").rsplit(".", 1)[-1] for t in types}
    return bool(names & {"Exception", "BaseException", "RuntimeError", "AssertionError", "AttributeError", "TorchError", "AcceleratorError"})


def gpu_only_by_design(ctx: Context) -> bool:
    """Files written for CUDA only: NCCL/DDP scripts, CUDA kernels and benchmarks, scripts that refuse to run
    without a GPU. Hard-coded CUDA placement there is intended."""
    cached = ctx.__dict__.get("_pp_gpu_only")
    if cached is not None:
        return cached
    result = False
    for q in ctx.imports.values():
        if q.split(".")[0] in {"triton", "cupy", "pycuda", "apex", "cutlass", "cuda", "tensorrt", "flash_attn"} or q.startswith(("torch.utils.cpp_extension", "numba.cuda")):
            result = True
    if not result:
        for c in ctx.nodes(ast.Constant):
            if c.value == "nccl":  # type: ignore[attr-defined]
                result = True
                break
    if not result:
        for call in ctx.calls("set_device", "Event", "load_inline"):
            q = ctx.call_qualname(call) or ""
            if callee_name(call) == "set_device" and call.args and isinstance(call.args[0], ast.Constant):
                continue  # torch.cuda.set_device(0): a hard-coded device, not per-rank placement
            if q.startswith("torch.cuda.") or q.endswith("load_inline"):
                result = True
                break
    if not result and not ctx.calls("backward"):
        # benchmarks and kernel tests: unguarded CUDA-runtime calls and no training
        for call in ctx.calls(*CUDA_RUNTIME_CALLS):
            if (ctx.call_qualname(call) or "").startswith("torch.cuda.") and not is_device_guarded(ctx, call):
                result = True
                break
        if any(q.startswith("torch.utils.benchmark") for q in ctx.imports.values()):
            result = True
    if not result:
        for a in ctx.nodes(ast.Assert):
            if is_cuda_availability_test(ctx, a.test) and not isinstance(a.test, ast.UnaryOp):  # type: ignore[attr-defined]
                result = True
                break
    if not result:
        for stmt in ctx.nodes(ast.If):
            test = stmt.test  # type: ignore[attr-defined]
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _is_availability_call(test.operand):
                if _exits(stmt.body) and not stmt.orelse:  # type: ignore[attr-defined]
                    last = stmt.body[-1]  # type: ignore[attr-defined]
                    if not isinstance(last, (ast.Continue, ast.Break)):
                        result = True
                        break
    ctx.__dict__["_pp_gpu_only"] = result
    return result


def _is_availability_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and callee_name(node) in {"is_available", "device_count"} and "cuda" in (dotted(node.func) or "")


def file_may_use_cuda(ctx: Context) -> bool:
    """Evidence that the file trains/runs on CUDA (the device may be CUDA): `.cuda()`, 'cuda' strings,
    `torch.cuda.is_available()`."""
    cached = ctx.__dict__.get("_pp_may_cuda")
    if cached is not None:
        return cached
    result = any(isinstance(c.func, ast.Attribute) for c in ctx.calls("cuda"))
    if not result:
        result = any(_is_availability_call(c) for c in ctx.calls("is_available", "device_count"))
    if not result:
        result = any(
            isinstance(c.value, str) and c.value.startswith("cuda")  # type: ignore[attr-defined]
            for c in ctx.nodes(ast.Constant)
        )
    ctx.__dict__["_pp_may_cuda"] = result
    return result


def name_bindings(ctx: Context) -> dict[str, list[tuple[ast.stmt, ast.expr | None]]]:
    """name -> [(assignment statement, the value bound to that name or None if not known)], source order.

    `a, b = x, y` binds a->x, b->y; `a, b = f()` binds both to None (with the statement kept).
    """
    from .analysis import target_names

    cached = ctx.__dict__.get("_pp_bindings")
    if cached is not None:
        return cached
    out: dict[str, list[tuple[ast.stmt, ast.expr | None]]] = {}
    for stmt in ctx.nodes(ast.Assign, ast.AnnAssign):
        value = stmt.value  # type: ignore[attr-defined]
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # type: ignore[attr-defined]
        for t in targets:
            if isinstance(t, (ast.Name, ast.Attribute)):
                name = dotted(t)
                if name:
                    out.setdefault(name, []).append((stmt, value))  # type: ignore[arg-type]
            elif isinstance(t, (ast.Tuple, ast.List)):
                vals = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(t.elts) else None
                for i, el in enumerate(t.elts):
                    name = dotted(el) if isinstance(el, (ast.Name, ast.Attribute)) else None
                    if name:
                        out.setdefault(name, []).append((stmt, vals[i] if vals else None))  # type: ignore[arg-type]
                    else:
                        for n in target_names(el):
                            out.setdefault(n, []).append((stmt, None))  # type: ignore[arg-type]
    ctx.__dict__["_pp_bindings"] = out
    return out


def latest_binding(ctx: Context, name: str, node: ast.AST) -> tuple[ast.stmt, ast.expr | None] | None:
    """The latest binding of `name` before `node` in the same function (else at module level), if any."""
    scope = ctx.enclosing_function(node)
    pos = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
    best = None
    fallback = None
    for stmt, value in name_bindings(ctx).get(name, ()):
        if (stmt.lineno, stmt.col_offset) >= pos:
            continue
        s_scope = ctx.enclosing_function(stmt)
        if s_scope is scope:
            best = (stmt, value)
        elif s_scope is None:
            fallback = (stmt, value)
    return best or fallback


def resolve_value(ctx: Context, expr: ast.expr | None, hops: int = 5) -> ast.expr | None:
    """Follow `name = value` bindings back to the expression that produced a name (a few hops)."""
    while hops and isinstance(expr, (ast.Name, ast.Attribute)):
        name = dotted(expr)
        b = latest_binding(ctx, name, expr) if name else None
        if b is None:
            return expr
        stmt, value = b
        if value is None:
            # `train_ds, val_ds = random_split(full, ...)`: the parts are views of the first argument
            v = getattr(stmt, "value", None)
            if isinstance(v, ast.Call) and callee_name(v) == "random_split" and v.args:
                value = v.args[0]
            else:
                return None
        expr = value
        hops -= 1
    return expr


MODEL_EVIDENCE_METHODS = {"parameters", "named_parameters", "train", "eval", "modules", "named_modules", "children", "named_children"}
MODEL_VAR_RE = re.compile(r"^(model|net|network|classifier|encoder|decoder|generator|discriminator|backbone|module)$|(_model|_net|model_)$", re.I)


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


# ---------------------------------------------------------------------- models, losses, graph-carrying values
import builtins  # noqa: E402

# Shared by the MODE/GRAD/MEM rules. Everything is cached on the Context (one computation per file).

MODEL_NAME_RE = re.compile(
    r"^(model|models|net|network|module|classifier|clf|encoder|decoder|backbone|generator|discriminator|"
    r"netg|netd|g|d|policy|actor|critic|teacher|student|autoencoder|vae|detector|segmenter|transformer|"
    r"lm|bert|gpt|cnn|rnn|lstm|gru|mlp|predictor|regressor|qnet|dqn)$"
    r"|(model|net|network)\d*$|^(model|net)_",
    re.I,
)
LOSS_NAME_RE = re.compile(r"(loss|criterion|crit$|cross_entropy|kl_div|nll)", re.I)
# Receivers of these methods are modules (used to recognise `model(x)` calls by data flow, not only by name).
MODULE_METHODS = {
    "parameters", "named_parameters", "eval", "train", "state_dict", "load_state_dict", "modules",
    "named_modules", "children", "zero_grad", "apply", "requires_grad_", "register_forward_hook",
}
# Calls whose result is a plain number / integer tensor / a detached tensor: no autograd graph behind it.
DETACHING_METHODS = {
    "item", "tolist", "numpy", "detach", "argmax", "argmin", "argsort", "long", "int", "bool", "byte",
    "eq", "ne", "gt", "lt", "ge", "le", "nonzero", "size", "dim", "numel", "isnan", "isinf", "isfinite",
}
# Methods/functions that return a tensor still attached to the graph of their (tensor) input.
KEEP_METHODS = {
    "sum", "mean", "cpu", "cuda", "to", "squeeze", "unsqueeze", "view", "reshape", "flatten", "float",
    "double", "half", "bfloat16", "clone", "contiguous", "t", "transpose", "permute", "softmax",
    "log_softmax", "sigmoid", "exp", "log", "abs", "pow", "mul", "add", "div", "sub", "norm",
    "masked_fill", "expand", "sqrt", "tanh", "relu", "neg", "squeeze_", "flip", "chunk", "split",
}
KEEP_FUNCS = {
    "stack", "cat", "sum", "mean", "softmax", "log_softmax", "sigmoid", "exp", "log", "tanh", "relu",
    "abs", "sqrt", "neg", "squeeze", "flatten", "add", "mul", "div", "sub", "matmul", "pow",
}
MODEL_FACTORY_RE = re.compile(r"(from_pretrained|create_model|build_model|get_model|load_model)$")
FRAMEWORK_BASE_RE = re.compile(r"(Lightning|Trainer|LightningModule)")
# Evaluation routines named by what they measure (`compute_accuracy(model, loader)`).
EVAL_EXTRA_FUNC_RE = re.compile(r"(accuracy|(^|_)metrics?(_|$)|(^|_)score_model|(^|_)benchmark_model)", re.I)
TEST_CLASS_RE = re.compile(r"(^Test|Tests?$|TestCase|TestBase|TestMixin|TestFixture)")
TEST_FILE_RE = re.compile(r"(^|[\\/])(test_[^\\/]*|[^\\/]*_test|conftest)\.py$")


def _cache(ctx: Context, key: str, make):
    store = ctx.__dict__.setdefault("_pp_sem_cache", {})
    if key not in store:
        store[key] = make()
    return store[key]


def walk_scope(scope: ast.AST):
    """Nodes of `scope` without descending into nested functions, lambdas and classes (iterative)."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def walk_no_defs(node: ast.AST):
    """`node` and its descendants, skipping nested function/class bodies."""
    yield node
    yield from walk_scope(node)


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


_BUILTIN_NAMES = set(dir(builtins))


def is_loss_call(ctx: Context, call: ast.Call) -> bool:
    name = callee_name(call) or ""
    return bool(LOSS_NAME_RE.search(name)) and name not in {"item", "backward"}


def _assign_index(ctx: Context, scope: ast.AST) -> dict[str, list[tuple[tuple[int, int], ast.AST, ast.expr | None]]]:
    """name -> [(position, binding statement, value expr or None when unknown)] in source order."""

    def make():
        out: dict[str, list] = {}
        for node in walk_scope(scope):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        out.setdefault(t.id, []).append(((node.lineno, node.col_offset), node, node.value))
                    elif isinstance(t, (ast.Tuple, ast.List)):
                        whole = node.value if isinstance(node.value, ast.Call) else None
                        for n in target_names(t):
                            out.setdefault(n, []).append(((node.lineno, node.col_offset), node, ("unpack", whole)))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                out.setdefault(node.target.id, []).append(((node.lineno, node.col_offset), node, node.value))
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                out.setdefault(node.target.id, []).append(((node.lineno, node.col_offset), node, ("aug", node.value)))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                for n in target_names(node.target):
                    pos = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
                    out.setdefault(n, []).append((pos, node, None))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        for n in target_names(item.optional_vars):
                            out.setdefault(n, []).append(((node.lineno, node.col_offset), node, None))
        for v in out.values():
            v.sort(key=lambda e: e[0])
        return out

    return _cache(ctx, f"assigns:{id(scope)}", make)


def binding_before(ctx: Context, scope: ast.AST, name: str, at: ast.AST):
    """The last binding of `name` in `scope` positioned before `at` (source order approximation)."""
    pos = (getattr(at, "lineno", 0), getattr(at, "col_offset", 0))
    last = None
    for entry in _assign_index(ctx, scope).get(name, ()):
        stmt = entry[1]
        if stmt is at:
            continue
        if entry[0] >= pos:
            break
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and ctx.is_inside(at, stmt):
            continue  # `total = total + loss`: the right-hand side reads the previous binding
        last = entry
    return last


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
    return False


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


# ---------------------------------------------------------------------- evaluation code (MODE001, GRAD001)
EVAL_DATA_TOKEN_RE = re.compile(
    r"(^|[^a-z])(val|valid|validation|test|testing|eval|evaluation|dev|holdout|heldout)(s|set|loader|data|dl|ds|dataset|iter)?([^a-z]|$)"
    r"|(val|valid|test|eval|dev)(loader|set|data|dl|ds|dataset)",
    re.I,
)
DATAISH_RE = re.compile(r"(loader|dataloader|(^|_)dl($|_)|data|(^|_)ds($|_)|batch|sample|image|img|example|input|val|test|eval|dev)", re.I)
MC_DROPOUT_RE = re.compile(r"(mc[_ ]?dropout|monte[_ ]?carlo|enable_dropout|mcdropout|bayesian)", re.I)
NEEDS_GRAD_ATTRS = {"grad", "retain_grad"}


def loop_iter_text(loop: ast.AST) -> str:
    """Names, attributes and string keys a `for` loop iterates over (`val_loader`, `loaders['test']`)."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return ""
    parts = []
    for n in ast.walk(loop.iter):
        if isinstance(n, ast.Name):
            parts.append(n.id)
        elif isinstance(n, ast.Attribute):
            parts.append(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            parts.append(n.value)
    return " ".join(parts)


def is_eval_data_loop(loop: ast.AST) -> bool:
    return bool(EVAL_DATA_TOKEN_RE.search(loop_iter_text(loop)))


def contains_training_step(ctx: Context, node: ast.AST) -> bool:
    """Does `node` contain a backward() call or an optimizer step?"""
    for n in walk_no_defs(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            if n.func.attr == "backward":
                return True
            if n.func.attr == "step" and is_optimizer_name(dotted(n.func.value) or ""):
                return True
    return False


OPTIMIZER_NAME_RE = re.compile(r"(^|[._])(opt|optim|optimizer|optimiser|optimizers|opt_[a-z0-9_]*|optimizer_[a-z0-9_]*|[a-z0-9_]*_opt|[a-z0-9_]*optimizer[a-z0-9_]*|[a-z0-9_]*optim)$", re.I)


def is_optimizer_name(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return bool(OPTIMIZER_NAME_RE.search(last)) and not re.search(r"(sched|lr_|warmup|scaler)", last, re.I)


def class_is_framework(ctx: Context, cls: ast.ClassDef | None) -> bool:
    """Lightning modules, HF/other Trainer subclasses: the framework sets train/eval and grad mode."""
    if cls is None:
        return False
    return any(FRAMEWORK_BASE_RE.search(dotted(b) or "") for b in cls.bases)


def is_test_function(ctx: Context, fn: ast.AST | None) -> bool:
    """A unit test (pytest/unittest) rather than model testing: `test_*` in a test file or a TestCase."""
    if fn is None or not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for anc in ctx.ancestors(fn):
        if isinstance(anc, ast.ClassDef) and (TEST_CLASS_RE.search(anc.name) or any("TestCase" in (dotted(b) or "") for b in anc.bases)):
            return True  # any method of a unit-test class (helpers such as `_test_sync` included)
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and anc.name.startswith(("test_", "_test")):
            fn = anc
    if not fn.name.startswith(("test_", "_test")):
        return False
    if TEST_FILE_RE.search(ctx.filename) or re.search(r"[\\/](tests?|testing)[\\/]", ctx.filename):
        return True
    cls = ctx.enclosing_class(fn)
    return cls is not None and (bool(TEST_CLASS_RE.search(cls.name)) or any("TestCase" in (dotted(b) or "") for b in cls.bases))


class EvalSite:
    """One piece of evaluation/inference code: its scope, the loop (or forward call) to report, how found."""

    __slots__ = ("scope", "anchor", "forward", "model", "how")

    def __init__(self, scope, anchor, forward, model, how):
        self.scope, self.anchor, self.forward, self.model, self.how = scope, anchor, forward, model, how


def _pick_anchor(loops: list[ast.AST]) -> ast.AST | None:
    for loop in loops:  # innermost first
        if DATAISH_RE.search(loop_iter_text(loop)):
            return loop
    return loops[0] if loops else None


def _has_eval_call_before(ctx: Context, scope: ast.AST, model: str, node: ast.AST) -> bool:
    last = model.rsplit(".", 1)[-1]
    state = None
    for n in walk_scope(scope):
        if isinstance(n, ast.Call) and (n.lineno, n.col_offset) < (node.lineno, node.col_offset):
            flag = sets_training_flag(n)
            if flag is None:
                continue
            recv = call_receiver_name(n) or ""
            if recv.rsplit(".", 1)[-1] == last:
                if state is None or (n.lineno, n.col_offset) > state[0]:
                    state = ((n.lineno, n.col_offset), flag)
    return state is not None and state[1] is False


def evaluation_sites(ctx: Context) -> list[EvalSite]:
    """Evaluation/inference forward passes: in functions named like evaluate/validate/test/predict, in
    loops over validation/test data, or after `model.eval()` in the same scope. Training code (loops with
    backward/optimizer steps), framework hooks and unit tests are excluded."""

    def make() -> list[EvalSite]:
        if not is_torch_code(ctx):
            return []
        has_eval_fn = any(is_eval_function_name(n) or EVAL_EXTRA_FUNC_RE.search(n) for n in ctx.functions_by_name)
        has_eval_loop = any(is_eval_data_loop(lp) for lp in ctx.nodes(ast.For, ast.AsyncFor))
        if not (has_eval_fn or has_eval_loop or ctx.calls("eval") or ctx.calls("train")):
            return []
        # Only scopes that can hold evaluation code: eval-named functions, scopes with eval-data loops or eval().
        scopes: dict[int, ast.AST] = {}
        for name, fns in ctx.functions_by_name.items():
            if is_eval_function_name(name) or EVAL_EXTRA_FUNC_RE.search(name):
                for f in fns:
                    scopes[id(f)] = f
        for lp in ctx.nodes(ast.For, ast.AsyncFor):
            if is_eval_data_loop(lp):
                sc = ctx.enclosing_function(lp) or ctx.tree
                scopes[id(sc)] = sc
        for c in ctx.calls("eval") + ctx.calls("train"):
            if sets_training_flag(c) is False:
                sc = ctx.enclosing_function(c) or ctx.tree
                scopes[id(sc)] = sc
        candidates = sorted(
            (n for sc in scopes.values() for n in walk_scope(sc) if isinstance(n, ast.Call)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        sites: list[EvalSite] = []
        seen: set[int] = set()
        for call in candidates:
            model = model_call_key(ctx, call)  # type: ignore[arg-type]
            if model is None:
                continue
            fn = ctx.enclosing_function(call)
            scope = fn if fn is not None else ctx.tree
            cls = ctx.enclosing_class(call)
            if class_is_framework(ctx, cls) or is_test_function(ctx, fn):
                continue
            if fn is not None and fn.name in FRAMEWORK_EVAL_HOOKS:
                continue
            loops = ctx.loops_around(call)
            if loops and contains_training_step(ctx, loops[0]):
                continue  # a forward pass of the training step
            eval_loops: list[ast.AST] = []
            for loop in loops:
                if contains_training_step(ctx, loop):
                    break
                eval_loops.append(loop)
            in_module_class = cls is not None and ctx.is_module_class(cls)
            how = None
            anchor = None
            if (fn is not None and (is_eval_function_name(fn.name) or EVAL_EXTRA_FUNC_RE.search(fn.name))
                    and not contains_training_step(ctx, fn)):
                if not in_module_class or any(DATAISH_RE.search(loop_iter_text(lp)) for lp in eval_loops):
                    how, anchor = "function", _pick_anchor(eval_loops) or call
            if how is None:
                data_loops = [lp for lp in eval_loops if is_eval_data_loop(lp)]
                if data_loops:
                    how, anchor = "loader", data_loops[0]
            if how is None and not in_module_class and _has_eval_call_before(ctx, scope, model, call):
                anchor = _pick_anchor(eval_loops)
                if anchor is not None or isinstance(ctx.statement_of(call), (ast.Assign, ast.Return, ast.AnnAssign)):
                    how, anchor = "after-eval", anchor or call  # (a bare `f(*inputs)` is a warm-up call)
            if how is None or id(anchor) in seen:
                continue
            seen.add(id(anchor))
            sites.append(EvalSite(scope, anchor, call, model, how))
        return sites

    return _cache(ctx, "eval_sites", make)


def accumulation_loops(ctx: Context, node: ast.AST) -> list[ast.AST]:
    """Loops across whose iterations a value accumulated at `node` would outlive an iteration.

    Inside a training loop (one that calls backward), loops nested within it (time steps, heads) run
    within one iteration: only the training loop and the loops around it count.
    """
    loops = ctx.loops_around(node)
    for i, loop in enumerate(loops):
        if contains_training_step(ctx, loop):
            # a nested loop over a data loader (validation inside the epoch loop) still counts
            inner = [lp for lp in loops[:i] if is_eval_data_loop(lp) or LOADER_RE.search(loop_iter_text(lp))]
            return inner + loops[i:]
    return loops


LOADER_RE = re.compile(r"(loader|dataset|(^|_)dl($|_)|(^|_)ds($|_))", re.I)


OTHER_FRAMEWORK_RE = re.compile(r"^(tensorflow|keras|jax|flax|sklearn|paddle|mxnet|mindspore|oneflow)(\.|$)")


TORCH_ECOSYSTEM_RE = re.compile(
    r"^(torch|torchvision|torchaudio|torchtext|lightning|pytorch_lightning|transformers|timm|accelerate|"
    r"diffusers|peft|deepspeed|fairseq|detectron2|mmcv|mmengine|ignite|skorch|torch_geometric|dgl|monai)(\.|$)"
)


def is_torch_code(ctx: Context) -> bool:
    """Does the file use PyTorch (or is it an import-less snippet)? Other code has other `model`s."""
    def make() -> bool:
        if not ctx.imports:
            return True
        return any(TORCH_ECOSYSTEM_RE.match(q) for q in ctx.imports.values()) or any(
            TORCH_ECOSYSTEM_RE.match(q.lstrip(".")) for q in ctx.imports.values()
        ) or any(imp.level for imp in ctx.nodes(ast.ImportFrom))  # type: ignore[union-attr]

    return _cache(ctx, "is_torch_code", make)


def is_other_framework_file(ctx: Context) -> bool:
    """A file that imports another DL framework and not torch (Keras `model(x)` is not a torch module)."""
    return not ctx.imports_torch and any(OTHER_FRAMEWORK_RE.match(q) for q in ctx.imports.values())


def is_module_like_class(ctx: Context, cls: ast.ClassDef | None) -> bool:
    """An nn.Module subclass as far as this file shows, or a class with a forward() (base imported)."""
    if cls is None:
        return False
    return ctx.is_module_class(cls) or any(
        isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == "forward" for f in cls.body
    )


def training_loop_of(ctx: Context, node: ast.AST, depth: int = 0) -> ast.AST | None:
    """The innermost loop that runs `node` once per step: in its own function, or else around a call of
    that (local) function, e.g. timm's nested `_backward()` called from the batch loop."""
    loops = ctx.loops_around(node)
    if loops:
        return loops[0]
    fn = ctx.enclosing_function(node)
    if fn is None or depth >= 2:
        return None
    for site in call_sites(ctx, fn):
        loop = training_loop_of(ctx, site, depth + 1)
        if loop is not None:
            return loop
    return None


def local_function(ctx: Context, call: ast.Call) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function defined in this file that `call` invokes (`helper(...)`, `self.helper(...)`), if unique-ish."""
    func = call.func
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"}:
        name = func.attr
    else:
        return None
    fns = ctx.functions_by_name.get(name)
    return fns[0] if fns else None


def call_sites(ctx: Context, fn: ast.AST) -> list[ast.Call]:
    """Calls of the local function/method `fn` in this file (`fn(...)`, `self.fn(...)`, `obj.fn(...)`)."""
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    return [c for c in ctx.calls(fn.name) if not ctx.is_inside(c, fn) or ctx.enclosing_function(c) is not fn]


def mode_calls(ctx: Context, node: ast.AST, depth: int = 0) -> list[tuple[tuple[int, int], bool, str]]:
    """Train/eval mode switches executed by `node`, in source order, following local helper calls:
    [(position, is_train, receiver)]. A helper's switches take the position of the call."""
    out = []
    for n in walk_no_defs(node):
        if not isinstance(n, ast.Call):
            continue
        flag = sets_training_flag(n)
        pos = (n.lineno, n.col_offset)
        if flag is not None:
            out.append((pos, flag, call_receiver_name(n) or ""))
            continue
        if depth < 3:
            target = local_function(ctx, n)
            if target is not None and not ctx.is_inside(n, target):
                params = [a.arg for a in target.args.posonlyargs + target.args.args]
                if params and params[0] in {"self", "cls"} and isinstance(n.func, ast.Attribute):
                    params = params[1:]
                for _, f, recv in mode_calls(ctx, target, depth + 1):
                    head, _, rest = recv.partition(".")
                    if head in params:
                        i = params.index(head)
                        arg = n.args[i] if i < len(n.args) else kwarg_value(n, head)
                        mapped = dotted(arg) if arg is not None else None
                        if mapped:
                            recv = mapped + ("." + rest if rest else "")
                    out.append((pos, f, recv))
    out.sort(key=lambda e: e[0])
    return out


def sets_eval_somewhere(ctx: Context, node: ast.AST) -> bool:
    return any(not f for _, f, _ in mode_calls(ctx, node))


def maybe_grad_disabled(ctx: Context, node: ast.AST) -> bool:
    """in_no_grad, plus `with ctx:` whose expression mentions grad/inference (a chosen context object)."""
    if in_no_grad(ctx, node):
        return True
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)) and child in anc.body:
            for it in anc.items:
                text = ctx.segment(it.context_expr).lower()
                if ("grad" in text or "inference" in text) and "enable_grad" not in text and "set_grad_enabled" not in text:
                    return True
        child = anc
    return False


# Dataset classes that read, decode or transform each item (torchvision and friends).
IO_DATASETS = {
    "ImageFolder", "DatasetFolder", "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "QMNIST", "CIFAR10", "CIFAR100",
    "SVHN", "STL10", "ImageNet", "CocoDetection", "CocoCaptions", "VOCSegmentation", "VOCDetection", "CelebA",
    "Places365", "LSUN", "Cityscapes", "Flowers102", "Food101", "OxfordIIITPet", "StanfordCars", "Caltech101",
    "Caltech256", "SBDataset", "Kinetics", "UCF101", "HMDB51", "LIBRISPEECH", "SPEECHCOMMANDS", "YESNO",
    "LJSPEECH", "VisionDataset", "WIDERFace", "INaturalist", "DTD", "EuroSAT", "GTSRB", "FGVCAircraft",
}
IO_CALL_NAMES = {
    "open", "imread", "read_image", "decode_image", "decode_jpeg", "read_file", "load", "read_csv", "imdecode",
    "loadmat", "read", "read_video", "transform", "transforms", "augment", "tokenize", "encode", "convert",
}


IO_CALL_RE = re.compile(r"(transform|augment|^tfms?$|^aug$|preprocess|^load_|^read_|decode)", re.I)


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


def calls_of(ctx: Context, qualnames: set[str] | frozenset[str]) -> list[ast.Call]:
    """Calls that resolve to one of `qualnames`, including through `from m import f as g` aliases.

    Looks only at calls whose callee name is the qualified names' last component or a local alias of
    one of them, so it costs a few dictionary lookups on files that never use these functions.
    """
    names = {q.rsplit(".", 1)[-1] for q in qualnames}
    names.update(local for local, q in ctx.imports.items() if q in qualnames)
    return [c for c in ctx.calls(*names) if ctx.call_qualname(c) in qualnames]


TORCH_LOAD = frozenset({"torch.load", "torch.serialization.load"})
TORCH_SAVE = frozenset({"torch.save", "torch.serialization.save"})
