"""PT-PERF004 cuda-timing-without-sync."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..devices import is_cuda_string
from ..semantics import backward_calls, file_may_use_cuda, model_call_key

CLOCKS = {"time.time", "time.perf_counter", "time.monotonic", "time.perf_counter_ns", "time.time_ns", "timeit.default_timer"}
# calls that wait for the GPU (explicitly or by copying a result to the host)
SYNCING = {"synchronize", "item", "cpu", "tolist", "numpy", "elapsed_time", "Event", "wait", "barrier", "all_reduce",
           "block_until_ready", "to_here", "get"}


class CudaTimingWithoutSync(Rule):
    code = "PT-PERF004"
    name = "cuda-timing-without-sync"
    severity = Severity.medium
    summary = "Wall-clock timing around CUDA work without `torch.cuda.synchronize()` before reading the clock"
    why = (
        "CUDA kernels run asynchronously: the Python call returns as soon as the work is queued, so "
        "`time.time()` after a forward/backward measures the launch overhead (microseconds), not the GPU "
        "time, and the cost shows up later in whichever line happens to wait. Benchmarks and per-step "
        "timings read this way are wrong by orders of magnitude."
    )
    fix_text = (
        "Call `torch.cuda.synchronize()` before each clock read, or time with "
        "`start = torch.cuda.Event(enable_timing=True)` / `end.record()` / `start.elapsed_time(end)`, or use "
        "`torch.utils.benchmark.Timer`."
    )
    bad = (
        "import time\nimport torch\n\nmodel = Net().cuda()\nx = torch.randn(64, 3, 224, 224, device='cuda')\n"
        "t0 = time.perf_counter()\nout = model(x)\nelapsed = time.perf_counter() - t0\n"
    )
    good = (
        "import time\nimport torch\n\nmodel = Net().cuda()\nx = torch.randn(64, 3, 224, 224, device='cuda')\n"
        "torch.cuda.synchronize()\nt0 = time.perf_counter()\nout = model(x)\ntorch.cuda.synchronize()\n"
        "elapsed = time.perf_counter() - t0\n"
    )

    def check(self, ctx: Context):
        if "time" not in ctx.source or not file_may_use_cuda(ctx):
            return
        clocks = [c for c in ctx.nodes(ast.Call) if ctx.call_qualname(c) in CLOCKS]  # type: ignore[arg-type]
        if len(clocks) < 2:
            return
        backs = backward_calls(ctx)
        for end in clocks:
            start_stmt = self._start_of(ctx, end, clocks)
            if start_stmt is None:
                continue
            end_stmt = ctx.statement_of(end)
            region = self._region(ctx, start_stmt, end_stmt)
            if not region:
                continue
            calls = [n for s in region for n in ast.walk(s) if isinstance(n, ast.Call)]
            if any(callee_name(c) in SYNCING or "sync" in (callee_name(c) or "").lower() for c in calls):
                continue  # synchronised (explicitly, or by copying a result to the host)
            if not any(model_call_key(ctx, c) or c in backs or (callee_name(c) == "step" and "optim" in (dotted(c.func) or "").lower()) for c in calls) \
                    and not _ops_on_cuda_tensors(ctx, region):
                continue
            yield self.report(
                ctx, end,
                "the clock is read while the CUDA work queued since the previous reading may still be running: call "
                "`torch.cuda.synchronize()` first (or use CUDA events)",
            )

    @staticmethod
    def _start_of(ctx: Context, end: ast.Call, clocks: list[ast.Call]) -> ast.stmt | None:
        """`t0 = time.time()` read in `time.time() - t0`: the statement that set `t0`."""
        parent = ctx.parent(end)
        if not (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Sub) and parent.left is end):
            stmt = ctx.statement_of(end)
            if isinstance(stmt, ast.Assign) and stmt.value is end:
                # `t1 = time.time()` later used in `t1 - t0`
                t1 = dotted(stmt.targets[0]) if len(stmt.targets) == 1 else None
                for b in ctx.nodes(ast.BinOp):
                    if isinstance(b.op, ast.Sub) and dotted(b.left) == t1 and isinstance(b.right, (ast.Name, ast.Attribute)):  # type: ignore[union-attr]
                        return _clock_binding(ctx, dotted(b.right), stmt, clocks)  # type: ignore[union-attr]
            return None
        name = dotted(parent.right) if isinstance(parent.right, (ast.Name, ast.Attribute)) else None
        return _clock_binding(ctx, name, ctx.statement_of(end), clocks) if name else None

    @staticmethod
    def _region(ctx: Context, start: ast.stmt, end: ast.stmt | None) -> list[ast.stmt]:
        """Statements strictly between `start` and `end` when both sit in one statement list."""
        if end is None:
            return []
        parent = ctx.parent(start)
        for field in ("body", "orelse", "finalbody"):
            seq = getattr(parent, field, None)
            if isinstance(seq, list) and start in seq:
                i = seq.index(start)
                # end may be nested in a later statement of the same list
                for j in range(i + 1, len(seq)):
                    if seq[j] is end or ctx.is_inside(end, seq[j]):
                        return seq[i + 1: j] + ([] if seq[j] is end else [])
        return []


def _clock_binding(ctx: Context, name: str | None, before_stmt: ast.stmt | None, clocks: list[ast.Call]) -> ast.stmt | None:
    if not name or before_stmt is None:
        return None
    best = None
    for c in clocks:
        s = ctx.statement_of(c)
        if isinstance(s, ast.Assign) and s.value is c and len(s.targets) == 1 and dotted(s.targets[0]) == name:
            if (s.lineno, s.col_offset) < (before_stmt.lineno, before_stmt.col_offset) and ctx.enclosing_function(s) is ctx.enclosing_function(before_stmt):
                best = s
    return best


def _cuda_tensor_names(ctx: Context) -> set[str]:
    """Names bound to tensors made on the GPU: `x = torch.randn(n, n, device="cuda")`."""
    cached = ctx.__dict__.get("_pp_perf004_cuda_names")
    if cached is not None:
        return cached
    out: set[str] = set()
    for stmt in ctx.nodes(ast.Assign):
        value = stmt.value  # type: ignore[attr-defined]
        if not isinstance(value, ast.Call):
            continue
        # only tensor factories placed on the GPU: `.cuda()` / `.to("cuda")` also move models, whose methods
        # (`state_dict()`, `parameters()`) queue no GPU work
        on_gpu = (ctx.call_qualname(value) or "").startswith("torch.") and any(
            k.arg == "device" and is_cuda_string(k.value) for k in value.keywords)
        if on_gpu:
            for t in stmt.targets:  # type: ignore[attr-defined]
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
    ctx.__dict__["_pp_perf004_cuda_names"] = out
    return out


def _ops_on_cuda_tensors(ctx: Context, region: list[ast.stmt]) -> bool:
    """The timed statements compute on GPU tensors (a matmul, a torch function or a method of one)."""
    names = _cuda_tensor_names(ctx)
    if not names:
        return False

    def gpu(e: ast.AST) -> bool:
        return isinstance(e, ast.Name) and e.id in names

    for s in region:
        for n in ast.walk(s):
            if isinstance(n, ast.BinOp) and (gpu(n.left) or gpu(n.right)):
                return True
            if isinstance(n, ast.Call):
                if any(gpu(a) for a in n.args) and (ctx.call_qualname(n) or "").startswith("torch."):
                    return True
                if isinstance(n.func, ast.Attribute) and gpu(n.func.value):
                    return True
    return False
