"""Device placement knowledge: CUDA availability tests, device guards, GPU-only-by-design files.
"""

from __future__ import annotations

import ast
import re

from .analysis import Context, callee_name, dotted
from .torch_tables import (
    CUDA_RUNTIME_CALLS,
    CUDA_STRING_RE,
    DEVICE_GUARD_NAME_RE,
    EXIT_CALLS,
)

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
