"""Compare a candidate module against a reference in the KernelBench convention.

The reference defines `Model`, `get_inputs()` and `get_init_inputs()`; the candidate defines `ModelNew` (or
`Model`). Two sandboxed child processes (`python -I -m pytorch_patterns.reference_impls.compare --role ...`), the candidate's apart
from the reference's: the reference child drives everything below and sends the verdict; the candidate child only
maps the inputs it is sent to outputs (see `compare`). This process relays and times the candidate.

1. both models are built from the reference's init inputs under the same weight seed;
2. over `trials` seeded trials, fresh inputs from the reference's `get_inputs()` go to each model (separate
   copies); outputs must match with allclose (atol = rtol = 1e-4 for fp32, 1e-2 for fp16/bf16);
3. results are refused when the candidate mutated its inputs, or when its output looks cached: the same tensor
   storage as the previous trial, or an unchanged output although the inputs and the reference's output changed;
4. edge cases: when the reference also defines `get_edge_inputs()` (a list whose items are input lists like
   `get_inputs()`, or `(description, inputs)` pairs: huge logits, masked rows, a batch of one, a non-contiguous
   input...), each must match too, within the same tolerance and with the same non-finite pattern (NaN and
   +-inf in the same places as the reference's); edge inputs keep their strides, and count for correctness only;
5. only a correct candidate is timed, on the first trial's inputs: warm-up (never timed), then `pairs` pairs of
   rounds (each round >= ~20 ms of the reference, at least `iters` calls in all), reference and candidate
   interleaved in ABBA order; the reference in its own process (the candidate's processes stopped meanwhile), the
   candidate by the parent's clock less the median empty round trip (its own clock is never read), both as clocks
   around rounds of calls ending in a device sync; the candidate's last output checked; the speed-up is the
   median over the pairs of reference round / candidate round (robust to load bursts on a shared box).

Importing this module does not import torch.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pytorch_patterns.reference_impls.sandbox import (Child, Isolation, SandboxInputError, SandboxUnavailable, read_regular_file,
                                     sandbox_env)

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"


class CompareOptions(BaseModel):
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    trials: int = Field(5, ge=1)
    seed: int = 42
    warmup: int = Field(3, ge=0)
    iters: int = Field(20, ge=1)
    pairs: int = Field(21, ge=1)  # timed rounds of reference and candidate, interleaved; the median ratio counts
    threads: int | None = Field(None, ge=1)
    timeout_s: float = Field(300.0, gt=0)
    memory_mb: int | None = Field(6144, ge=64)
    max_output_bytes: int = 32_000


class CompareReport(BaseModel):
    reference: str
    candidate: str
    device: str | None = None
    dtype: str | None = None
    tolerance: float | None = None
    correct: bool = False
    trials: int = 0
    trials_passed: int = 0
    edge_cases: int = 0  # how many cases the reference's get_edge_inputs() defines (0: none)
    edge_cases_passed: int = 0
    max_abs_diff: float | None = None  # over the random trials
    problems: list[str] = []  # why the result is refused or incorrect
    reference_ms: float | None = None
    candidate_ms: float | None = None
    speedup: float | None = None  # median over the timing pairs of reference round / candidate round
    speedup_spread: list[float] | None = None  # the lower and upper quartiles of those ratios
    timing_pairs: int | None = None
    timing_note: str | None = None  # why wall time was used instead of CPU time, if it was
    timer: str | None = None  # "process-cpu-time" (CPU runs), "perf_counter" or "perf_counter+cuda-sync"
    error: str | None = None
    killed_reason: str | None = None
    output_tail: str | None = None
    containment: str | None = None  # what the sandbox achieved for the child (see sandbox.Containment)


def list_kernel_references() -> list[Path]:
    return sorted(p for p in KERNELS_DIR.glob("*.py") if p.name != "__init__.py")


def summary(path: Path) -> str:
    from pytorch_patterns.reference_impls.registry import docstring_summary

    return docstring_summary(path)


def resolve_reference(name_or_path: str) -> Path:
    """A path, or the name of a shipped reference (`softmax_rows`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = KERNELS_DIR / f"{name_or_path}.py"
    if shipped.is_file():
        return shipped
    names = ", ".join(p.stem for p in list_kernel_references())
    raise FileNotFoundError(f"no reference module {name_or_path!r} (not a file; shipped references: {names})")


def compare(reference: Path, candidate: Path, options: CompareOptions | None = None, *,
            cancel: threading.Event | None = None, isolation: Isolation | None = None,
            cwd: Path | None = None) -> CompareReport:
    """Scorer and scored apart: the reference and the candidate run in two separate sandboxed children.

    The reference child drives the comparison (trusted code: it builds the inputs, runs the reference, checks the
    candidate's outputs against its own with the tolerances); the candidate child only maps inputs to outputs
    (tensors over a pipe, loaded with `torch.load(weights_only=True)`: no pickled code crosses). This process
    relays the messages, times the candidate's runs itself and believes only what the reference child sends:
    the candidate can neither see the reference, its outputs or the tolerances, nor slow the reference down, nor
    forge a result. `isolation` is a template for both children (caps, required); each gets its own private
    workspace with a copy of its module (a regular file). A candidate that
    reaches for frames, gc, ctypes, harness modules or dynamic code (static scan) is refused before it runs.
    `cwd` is accepted for compatibility."""
    options = options or CompareOptions()
    reference, candidate = Path(reference).resolve(), Path(candidate).resolve()
    for path in (reference, candidate):
        if not path.is_file():
            raise FileNotFoundError(f"no such module: {path}")
    base = {"reference": str(reference), "candidate": str(candidate)}
    from pytorch_patterns.reference_impls.integrity import scan_folder

    with tempfile.TemporaryDirectory(prefix="pp-compare-") as tmp:
        ref_ws, cand_ws = Path(tmp) / "reference", Path(tmp) / "candidate"
        ref_ws.mkdir()
        (ref_ws / "reference.py").write_bytes(read_regular_file(reference, 16 << 20))
        try:
            cand_ws.mkdir()
            (cand_ws / candidate.name).write_bytes(read_regular_file(candidate, 16 << 20))
            problems = scan_folder(cand_ws)
        except (SandboxInputError, OSError) as exc:
            problems = [f"refused: {exc}"]
        if problems:
            why = "integrity: " + "; ".join(problems[:5]) if not problems[0].startswith("refused") else problems[0]
            return CompareReport(**base, error=why, problems=[why])
        template = isolation or Isolation()
        cuda = options.device in ("auto", "cuda")

        def iso(work: Path) -> Isolation:
            return template.model_copy(update={"workspace": work, "writable": [], "copy_back": False, "cuda": cuda or template.cuda})

        try:
            return _compare_in_children(ref_ws / "reference.py", cand_ws / candidate.name, options, cancel,
                                        iso(ref_ws), iso(cand_ws), base)
        except SandboxUnavailable as exc:
            return CompareReport(**base, error=str(exc), problems=[str(exc)])


MAX_FRAME = 512 << 20


def _thread_states(child: Child) -> list[str]:
    """The scheduler state of every thread of every live process of `child`'s tree."""
    states = []
    for proc in child.live_processes():
        try:
            tids = os.listdir(f"/proc/{proc.pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{proc.pid}/task/{tid}/stat", "rb") as fh:
                    states.append(fh.read().rsplit(b")", 1)[1].split()[0].decode())
            except OSError:
                continue
    return states


def _wait_stopped(child: Child, within_s: float = 2.0) -> None:
    """SIGSTOP reaches a process's threads asynchronously: wait (bounded) until none of them runs."""
    import time

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all(state in ("T", "t", "Z", "X") for state in _thread_states(child)):
            return
        child._signal_all(signal.SIGSTOP)  # processes forked since the first signal
        time.sleep(0.002)


def _send_frame(fd: int, header: dict, payload: bytes = b"") -> None:
    head = json.dumps({**header, "n": len(payload)}).encode()
    data = len(head).to_bytes(8, "big") + head + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    import select
    import time

    out = bytearray()
    while len(out) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer in time")
        chunk = os.read(fd, min(1 << 20, n - len(out)))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        out += chunk
    return bytes(out)


def _recv_frame(fd: int, deadline: float | None = None) -> tuple[dict, bytes]:
    size = int.from_bytes(_read_exact(fd, 8, deadline), "big")
    if size > 1 << 20:
        raise ValueError("message header too large")
    header = json.loads(_read_exact(fd, size, deadline))
    if not isinstance(header, dict):
        raise ValueError("bad message header")
    n = int(header.get("n", 0))
    if n < 0 or n > MAX_FRAME:
        raise ValueError("message too large")
    return header, _read_exact(fd, n, deadline)


def _compare_in_children(reference: Path, candidate: Path, options: CompareOptions, cancel, ref_iso: Isolation,
                         cand_iso: Isolation, base: dict, on_pause=None) -> CompareReport:
    import time

    stop = threading.Event()
    deadline = time.monotonic() + options.timeout_s
    pipes = {name: (os.pipe(), os.pipe()) for name in ("ref", "cand")}  # (parent->child, child->parent)
    results: dict[str, object] = {}

    children: dict[str, Child] = {}

    def start(name: str, role: str, iso: Isolation, module: Path) -> threading.Thread:
        (to_r, to_w), (from_r, from_w) = pipes[name]
        try:
            child = Child([sys.executable, "-I", "-m", "pytorch_patterns.reference_impls.compare", "--role", role, str(to_r), str(from_w),
                           str(module)], cwd=iso.workspace, env=_child_env(), max_output_bytes=options.max_output_bytes,
                          isolation=iso, pass_fds=(to_r, from_w))
        finally:
            for fd in (to_r, from_w):
                os.close(fd)
        children[name] = child

        def target() -> None:
            try:
                results[name] = child.supervise(timeout_s=options.timeout_s, memory_mb=options.memory_mb,
                                                max_output_bytes=options.max_output_bytes, cancel=stop)
            except BaseException as exc:  # noqa: BLE001 -- reported below
                results[name] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    threads = [start("ref", "reference", ref_iso, reference)]
    try:
        threads.append(start("cand", "candidate", cand_iso, candidate))
    except BaseException:
        stop.set()
        threads[0].join(timeout=30)
        for fd in (pipes["ref"][0][1], pipes["ref"][1][0], pipes["cand"][0][1], pipes["cand"][1][0]):
            os.close(fd)
        raise
    ref_in, ref_out = pipes["ref"][0][1], pipes["ref"][1][0]
    cand_in, cand_out = pipes["cand"][0][1], pipes["cand"][1][0]
    report: dict | None = None
    error: str | None = None
    integrity: list[str] = []
    cand_tasks: list[str] | None = None  # /proc/<pid>/task/<tid> of the candidate's processes once staged
    staged_at: tuple[int, int] | None = None
    pinned: list[tuple[int, set[int]]] = []  # (tid, its CPU set before) while the timing runs
    job = {"options": options.model_dump()}
    try:
        _send_frame(ref_in, {"op": "job", **job})
        while True:
            if cancel is not None and cancel.is_set():
                error = "cancelled by the caller"
                break
            header, payload = _recv_frame(ref_out, deadline)
            op = header.get("op")
            if op == "result":
                report = header.get("report")
                break
            if op == "error":
                error = str(header.get("error"))
                break
            if op in ("pause", "resume"):  # the reference is being timed: the candidate's processes are stopped
                signalled = children["cand"]._signal_all(signal.SIGSTOP if op == "pause" else signal.SIGCONT)
                if op == "pause":
                    _wait_stopped(children["cand"])
                    if on_pause is not None:
                        on_pause(children["cand"])
                _send_frame(ref_in, {"ok": True, "signalled": signalled})
                continue
            # A request for the candidate: relayed as is; its answer relayed back (the payload is never parsed here).
            # Timed requests also get the CPU time the candidate's processes used meanwhile, read from /proc by this
            # process (kernel accounting: the candidate's own clock is never read), which load from other jobs on a
            # shared box does not inflate as it inflates wall time.
            timed = op in ("time", "ping") and cand_tasks is not None
            cpu0 = _cpu_ns(cand_tasks) if timed else 0
            t0 = time.perf_counter()
            try:
                _send_frame(cand_in, {k: v for k, v in header.items() if k != "n"}, payload)
                reply, body = _recv_frame(cand_out, deadline)
            except (OSError, EOFError, ValueError) as exc:
                reply, body = {"ok": False, "error": f"the candidate process failed: {type(exc).__name__}: {exc}"}, b""
            elapsed_ms = (time.perf_counter() - t0) * 1000
            cpu_ms = (_cpu_ns(cand_tasks) - cpu0) / 1e6 if timed else None
            if reply.get("integrity"):
                integrity.append(str(reply["integrity"])[:300])
            clean = {"ok": bool(reply.get("ok")), "error": str(reply.get("error") or "")[:2000], "wall_ms": elapsed_ms,
                     "applied": reply.get("applied") is True}  # plain values only: the candidate's reply is untrusted
            if op == "stage":  # the processes and threads that will be timed: any other one voids the CPU timing
                cand_tasks = _task_set(children["cand"])
                # Both sides on one CPU while they are timed (they take turns, never run together): on a VM or a
                # shared box one CPU can be slower than another for a while (a busy neighbour), which interleaving
                # in time cannot cancel when each process stays on its own CPU.
                pinned = _pin_together([children["ref"], children["cand"]])
                staged_at = (_cpu_ns(cand_tasks), _ticks_ns(cand_tasks)) if cand_tasks is not None else None
            elif op == "last" and pinned:
                _unpin(pinned)
                pinned = []
            if op == "last" and cand_tasks is not None and staged_at is not None:
                # Work done in threads that ended before they could be read shows in their process's totals only.
                ran = _cpu_ns(cand_tasks) - staged_at[0]
                ticks = _ticks_ns(cand_tasks) - staged_at[1]
                clean["cpu_ok"] = _task_set(children["cand"]) == cand_tasks and ticks <= 1.1 * ran + 30_000_000
            if cpu_ms is not None:
                clean["cpu_ms"] = cpu_ms
            _send_frame(ref_in, clean, body)
    except (OSError, EOFError, ValueError, TimeoutError) as exc:
        error = f"comparison stopped: {type(exc).__name__}: {exc}"
    finally:
        for fd in (ref_in, cand_in):
            try:
                os.close(fd)
            except OSError:
                pass
        if report is None:
            stop.set()
        for thread in threads:
            thread.join(timeout=options.timeout_s + 30)
        if "cand" in children:
            children["cand"]._signal_all(signal.SIGCONT)  # a stopped process cannot be killed cleanly
        stop.set()
        for fd in (ref_out, cand_out):
            try:
                os.close(fd)
            except OSError:
                pass
    ref_res, cand_res = results.get("ref"), results.get("cand")
    for res in (ref_res, cand_res):
        if isinstance(res, BaseException):
            raise res
    levels = [r.containment for r in (ref_res, cand_res) if r is not None]
    order = ["group", "weak", "full"]
    base = {**base, "containment": min(levels, key=lambda lv: order.index(lv) if lv in order else -1) if levels else None,
            "killed_reason": getattr(cand_res, "killed_reason", None) or getattr(ref_res, "killed_reason", None)}
    if integrity:
        why = "integrity: " + "; ".join(integrity[:3])
        return CompareReport(**base, error=why, problems=[why])
    if report is not None and isinstance(report, dict):
        return CompareReport(**base, **report)
    tails = []
    for name, res in (("reference", ref_res), ("candidate", cand_res)):
        if res is not None and (res.stderr_tail.strip() or res.stdout_tail.strip()):
            tails.append(f"--- {name} ---\n{res.stderr_tail[-3000:]}{res.stdout_tail[-1000:]}")
        if res is not None and res.message and not error:
            error = f"{name}: {res.message}"
    error = error or "the comparison did not finish"
    return CompareReport(**base, error=error, output_tail="\n".join(tails) or None, problems=[error])


def _task_set(child: Child) -> list[str] | None:
    """Every thread of the child's live processes (/proc/<pid>/task/<tid>), sorted, but the sandbox's own processes
    above the first `reference_impls.compare --role` process (bubblewrap, the supervisor: ours, not the module's,
    and not timed on the reference's side either); None where /proc does not tell (then wall time is used)."""
    tasks = []
    try:
        procs = child.live_processes()
        by_pid = {p.pid: p for p in procs}
        roles = sorted(p.pid for p in procs if b"reference_impls.compare\0--role" in _cmdline(p.pid))
        above: set[int] = set()
        if roles:
            up = by_pid[roles[0]].ppid
            while up in by_pid and up not in above:
                above.add(up)
                up = by_pid[up].ppid
        for proc in procs:
            if proc.pid not in above:
                tasks += [f"/proc/{proc.pid}/task/{tid}" for tid in os.listdir(f"/proc/{proc.pid}/task")]
    except OSError:
        return None
    return sorted(tasks) or None


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read(4096)
    except OSError:
        return b""


def _pin_together(children: list[Child]) -> list[tuple[int, set[int]]]:
    """Pin every thread of these children to the CPU the first one last ran on; returns what to restore."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    tids: list[int] = []
    for child in children:
        for task in _task_set(child) or []:
            tids.append(int(task.rsplit("/", 1)[1]))
    if not tids:
        return []
    try:
        with open(f"/proc/{tids[0]}/stat", "rb") as fh:
            cpu = int(fh.read().rsplit(b")", 1)[1].split()[36])  # field 39: the CPU it last ran on
    except (OSError, ValueError, IndexError):
        return []
    done = []
    for tid in tids:
        try:
            before = os.sched_getaffinity(tid)
            if cpu in before:
                os.sched_setaffinity(tid, {cpu})
                done.append((tid, before))
        except OSError:
            pass
    return done


def _unpin(pinned: list[tuple[int, set[int]]]) -> None:
    for tid, before in pinned:
        try:
            os.sched_setaffinity(tid, before)
        except OSError:
            pass


def _cpu_ns(tasks: list[str]) -> int:
    """CPU time the threads have run (ns, /proc/.../schedstat), plus what their processes' reaped children ran."""
    total = 0
    for task in tasks:
        try:
            with open(f"{task}/schedstat", "rb") as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    for proc in {t.rsplit("/task/", 1)[0] for t in tasks}:
        try:
            with open(f"{proc}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) * 1_000_000_000 // _CLK_TCK  # cutime, cstime
        except (OSError, ValueError, IndexError):
            pass
    return total


def _ticks_ns(tasks: list[str]) -> int:
    """CPU time of the processes as a whole (utime + stime + reaped children, clock ticks): threads that ended
    included."""
    total = 0
    for proc in {t.rsplit("/task/", 1)[0] for t in tasks}:
        try:
            with open(f"{proc}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) * 1_000_000_000 // _CLK_TCK  # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            pass
    return total


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _child_env() -> dict[str, str]:
    """An allow-listed environment (no secrets of the caller): the sandbox's defaults plus thread settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}
    # The same allocator behaviour in both children, whatever each allocated before the timing: glibc adapts its
    # mmap and trim thresholds to what a process freed earlier, so one process could page-fault on every large
    # tensor (fresh zeroed pages) while the other reuses its heap. Fixed thresholds: large tensors come from the heap.
    keep.update(MALLOC_MMAP_THRESHOLD_=str(64 << 20), MALLOC_TRIM_THRESHOLD_=str(256 << 20), MALLOC_TOP_PAD_=str(16 << 20))
    return sandbox_env(keep)


# ---------------------------------------------------------------- child side


def _load(path: str, module_name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _flatten(out) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _flatten(item)]
    raise TypeError(f"outputs must be tensors or tuples/lists of tensors, got {type(out).__name__}")


def _clone(values: list) -> list:
    import torch

    return [v.clone() if isinstance(v, torch.Tensor) else v for v in values]


def _to(values: list, device) -> list:
    import torch

    return [v.to(device) if isinstance(v, torch.Tensor) else v for v in values]


def _tolerance(r, c) -> float:
    """atol = rtol for comparing outputs: 1e-2 when either side is fp16/bf16, else 1e-4."""
    import torch

    low_precision = r.dtype in (torch.float16, torch.bfloat16) or c.dtype in (torch.float16, torch.bfloat16)
    return 1e-2 if low_precision else 1e-4


def _to_keeping_strides(values: list, device) -> list:
    """Copies on `device` with the same sizes and strides (a transposed or sliced view stays non-contiguous)."""
    import torch

    def copy(v):
        if not isinstance(v, torch.Tensor):
            return v
        return torch.empty_strided(v.size(), v.stride(), dtype=v.dtype, device=device).copy_(v)

    return [copy(v) for v in values]


def _edge_cases(ref_mod) -> list[tuple[str, list]]:
    """The reference's `get_edge_inputs()` as (description, inputs) pairs; [] when it defines none."""
    make = getattr(ref_mod, "get_edge_inputs", None)
    if make is None:
        return []
    cases = []
    for index, item in enumerate(make()):
        if (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], (list, tuple))):
            description, inputs = item
        elif isinstance(item, (list, tuple)):
            description, inputs = "", item
        else:
            raise TypeError(f"get_edge_inputs() item {index} is a {type(item).__name__}, expected a list of inputs "
                            "or a (description, inputs) pair")
        cases.append((description, list(inputs)))
    return cases


def _edge_mismatch(r, c, tol: float) -> str | None:
    """Why candidate output `c` does not match reference output `r` on an edge case, or None: finite values within
    atol = rtol = `tol`, NaN and +-inf exactly where the reference has them."""
    import torch

    if r.shape != c.shape:
        return f"shape {tuple(c.shape)}, expected {tuple(r.shape)}"
    r, c = r.float() if r.dtype in (torch.float16, torch.bfloat16) else r, c.to(r.dtype)
    if not (r.is_floating_point() or r.is_complex()):
        return None if torch.equal(r, c) else "differs"
    problems = []
    nan_where_finite = (c.isnan() & r.isfinite()).sum().item()
    if nan_where_finite:
        problems.append(f"NaN at {nan_where_finite} position(s) where the reference is finite")
    non_finite_r = ~r.isfinite()
    wrong_non_finite = (non_finite_r & ~((r == c) | (r.isnan() & c.isnan()))).sum().item()
    if wrong_non_finite:
        problems.append(f"{wrong_non_finite} of the reference's {non_finite_r.sum().item()} inf/NaN value(s) "
                        "not reproduced")
    inf_where_finite = (c.isinf() & r.isfinite()).sum().item()
    if inf_where_finite:
        problems.append(f"inf at {inf_where_finite} position(s) where the reference is finite")
    both_finite = r.isfinite() & c.isfinite()
    rf, cf = r[both_finite], c[both_finite]
    if rf.numel() and not torch.allclose(cf, rf, atol=tol, rtol=tol):
        diff = (rf.double() - cf.double()).abs().max().item()
        problems.append(f"differs (max |diff| {diff:.3g} > atol=rtol={tol:g})")
    return "; ".join(problems) or None


def _same_values(a, b) -> bool:
    """Equal, NaN included (edge inputs may hold NaN, and NaN != NaN)."""
    import torch

    if a.is_floating_point() or a.is_complex():
        return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.masked_fill(a.isnan(), 0), b.masked_fill(b.isnan(), 0))
    return torch.equal(a, b)


def _check_edge_cases(ref_model, cand_model, cases: list[tuple[str, list]], device) -> tuple[int, list[str]]:
    """Runs every edge case through both models; (cases passed, problems naming the failed cases)."""
    import torch

    passed, problems = 0, []
    for index, (description, raw_inputs) in enumerate(cases):
        name = f"edge case {index}" + (f" ({description})" if description else "")
        inputs = _to_keeping_strides(raw_inputs, device)
        with torch.no_grad():
            ref_out = [t.detach() for t in _flatten(ref_model(*_to_keeping_strides(inputs, device)))]
            cand_inputs = _to_keeping_strides(inputs, device)
            try:
                cand_out = [t.detach() for t in _flatten(cand_model(*cand_inputs))]
            except Exception as exc:  # noqa: BLE001 -- a candidate that cannot take the case fails the case
                problems.append(f"{name}: the candidate raised {type(exc).__name__}: {str(exc)[:200]}")
                continue
        if any(isinstance(a, torch.Tensor) and not _same_values(a, b) for a, b in zip(cand_inputs, inputs)):
            problems.append(f"{name}: the candidate modified its input(s) in place; result refused")
            continue
        if len(cand_out) != len(ref_out):
            problems.append(f"{name}: {len(cand_out)} outputs, the reference returns {len(ref_out)}")
            continue
        case_problems = []
        for i, (r, c) in enumerate(zip(ref_out, cand_out)):
            why = _edge_mismatch(r, c, _tolerance(r, c))
            if why:
                case_problems.append(f"output {i} {why}")
        if case_problems:
            problems.append(f"{name}: " + "; ".join(case_problems))
        else:
            passed += 1
    return passed, problems


def _stale_output_problem(ref_model, cand_model, ref_mod, device, seed: int) -> str | None:
    """Call the candidate, write new values into the SAME input tensors, call it again: an output cached by the
    inputs' address (data_ptr, shape, stride) comes back stale. Returns the problem, or None."""
    import torch

    torch.manual_seed(seed)
    inputs = _to(ref_mod.get_inputs(), device)
    fresh = _to(ref_mod.get_inputs(), device)
    with torch.no_grad():
        cand_model(*inputs)
        for tensor, new in zip(inputs, fresh):
            if isinstance(tensor, torch.Tensor) and isinstance(new, torch.Tensor) and tensor.shape == new.shape:
                tensor.copy_(new)  # same storage, new values
        ref_out = [t.detach() for t in _flatten(ref_model(*_clone(inputs)))]
        cand_out = [t.detach() for t in _flatten(cand_model(*inputs))]
    for r, c in zip(ref_out, cand_out):
        tol = _tolerance(r, c)
        if r.shape != c.shape or not torch.allclose(c.to(r.dtype), r, atol=tol, rtol=tol, equal_nan=True):
            return ("called again on the same input tensors holding new values, the candidate returned a wrong "
                    "(stale) output: results cached by address are refused")
    return None


def shared_noise(ref_model, seed: int) -> list:
    """Seeded noise for each of the reference's parameters (scaled to its spread): added to the parameters the two
    models share (same order, same shapes), so an initialisation such as LayerNorm's weight = 1, bias = 0 cannot
    hide a candidate that leaves the affine part out."""
    import torch

    g = torch.Generator().manual_seed(seed + 7919)
    out = []
    for a in ref_model.parameters():
        if not a.is_floating_point():
            out.append(None)
            continue
        spread = float(a.detach().float().std()) if a.numel() > 1 else 0.0
        out.append(torch.randn(a.shape, generator=g) * (0.5 * spread if spread > 0 else 0.5))
    return out


def add_noise(model, noise: list) -> bool:
    """Add `noise` to the model's parameters in order; False (nothing changed) when they do not line up."""
    import torch

    params = list(model.parameters())
    if len(params) != len(noise) or any(n is not None and tuple(n.shape) != tuple(p.shape) for p, n in zip(params, noise)):
        return False
    with torch.no_grad():
        for p, n in zip(params, noise):
            if n is not None:
                p.add_(n.to(p.device, p.dtype))
    return True


def run_compare(job: dict, candidate: "_RemoteCandidate | _LocalCandidate | None" = None) -> dict:
    """The comparison, driven from the reference's side. `candidate` is the candidate's process seen through the
    pipe (`compare`); None loads `job["candidate"]` into this process (tests, trusted candidates only)."""
    import time

    import torch

    from pytorch_patterns.reference_impls.common import pick_device, sync

    opts = CompareOptions(**job["options"])
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = pick_device(opts.device)
    if device.type == "cuda":
        # fp32 means fp32 for both modules: cuDNN convolutions default to TF32 (10-bit mantissa), which put a
        # correct conv ~1e-3 off on H200 for channels_last inputs, ten times the tolerance.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    ref_mod = _load(job["reference"], "ptp_reference")
    for attr in ("Model", "get_inputs", "get_init_inputs"):
        if not hasattr(ref_mod, attr):
            raise AttributeError(f"the reference module defines no {attr}")

    torch.manual_seed(opts.seed)
    init_inputs = ref_mod.get_init_inputs()
    torch.manual_seed(opts.seed)  # the same weight seed for both models
    ref_model = ref_mod.Model(*init_inputs).to(device)
    cand_model = candidate if candidate is not None else _LocalCandidate(job["candidate"])
    cand_model.build(init_inputs, opts.seed, device, opts.threads)
    noise = shared_noise(ref_model, opts.seed)
    if cand_model.add_noise(noise):  # the candidate's parameters line up with the reference's: both get the noise
        add_noise(ref_model, noise)

    problems: list[str] = []
    passed = 0
    max_diff = 0.0
    dtype = None
    tolerance = None
    prev_cand = prev_ref = None
    prev_ptrs: list[int] = []
    timing_inputs = None
    for trial in range(opts.trials):
        torch.manual_seed(opts.seed + 1 + trial)
        inputs = _to(ref_mod.get_inputs(), device)
        pristine = _clone(inputs)
        with torch.no_grad():
            ref_out = [t.detach() for t in _flatten(ref_model(*_clone(inputs)))]
            cand_inputs = _clone(inputs)
            cand_out = [t.detach() for t in _flatten(cand_model(*cand_inputs))]
        if timing_inputs is None:
            timing_inputs = pristine
        mutated = [i for i, (a, b) in enumerate(zip(cand_inputs, pristine))
                   if isinstance(a, torch.Tensor) and not torch.equal(a, b)]
        if mutated:
            problems.append(f"trial {trial}: the candidate modified its input(s) {mutated} in place; result refused")
            break
        if len(cand_out) != len(ref_out):
            problems.append(f"trial {trial}: {len(cand_out)} outputs, the reference returns {len(ref_out)}")
            break
        ptrs = [t.data_ptr() for t in cand_out]
        if prev_cand is not None:
            same_storage = any(p == q and p != 0 for p, q in zip(ptrs, prev_ptrs))
            ref_changed = any(not torch.equal(a, b) for a, b in zip(ref_out, prev_ref))
            cand_unchanged = all(torch.equal(a, b) for a, b in zip(cand_out, prev_cand))
            if same_storage or (ref_changed and cand_unchanged):
                problems.append(f"trial {trial}: the candidate returned its previous output again (cached between "
                                "trials); result refused")
                break
        prev_cand, prev_ref, prev_ptrs = [t.clone() for t in cand_out], [t.clone() for t in ref_out], ptrs
        trial_ok = True
        for i, (r, c) in enumerate(zip(ref_out, cand_out)):
            if r.shape != c.shape:
                problems.append(f"trial {trial}: output {i} has shape {tuple(c.shape)}, expected {tuple(r.shape)}")
                trial_ok = False
                continue
            tol = _tolerance(r, c)
            tolerance = max(tolerance or 0.0, tol)
            dtype = str(r.dtype).replace("torch.", "")
            diff = (r.float() - c.float()).abs().max().item() if r.numel() else 0.0
            max_diff = max(max_diff, diff)
            if not torch.allclose(c.to(r.dtype), r, atol=tol, rtol=tol):
                problems.append(f"trial {trial}: output {i} differs (max |diff| {diff:.3g} > atol=rtol={tol:g})")
                trial_ok = False
        if not trial_ok:
            break
        passed += 1
    if passed == opts.trials and not problems:
        stale = _stale_output_problem(ref_model, cand_model, ref_mod, device, opts.seed + opts.trials + 100)
        if stale:
            problems.append(stale)
    # Edge cases (from a seed of their own, so they do not shift the trials' inputs) only once the trials pass.
    torch.manual_seed(opts.seed + opts.trials + 1)
    edge_cases = _edge_cases(ref_mod)
    edge_passed = 0
    if edge_cases and passed == opts.trials and not problems:
        edge_passed, edge_problems = _check_edge_cases(ref_model, cand_model, edge_cases, device)
        problems.extend(edge_problems)
    correct = passed == opts.trials and not problems

    report = {"device": str(device), "dtype": dtype, "tolerance": tolerance, "correct": correct, "trials": opts.trials,
              "trials_passed": passed, "edge_cases": len(edge_cases), "edge_cases_passed": edge_passed,
              "max_abs_diff": max_diff, "problems": problems}
    if not correct:
        return report

    # Timing (CPU boxes are shared: other jobs come and go within a second). Short rounds of calls, reference and
    # candidate interleaved in pairs (ABBA order, so drift cancels), each round >= ~20 ms of the reference; the
    # speed-up is the median over the pairs of reference round / candidate round, so a burst of load that hits one
    # round spoils one pair, not the verdict. Warm-up calls (allocator, caches, lazy init) are never timed.
    with torch.no_grad():
        model_calls = max(1, min(3, opts.iters))
        for _ in range(opts.warmup):
            ref_model(*timing_inputs)
        sync(device)
        t_probe = time.perf_counter()
        for _ in range(model_calls):
            ref_model(*timing_inputs)
        sync(device)
        per_call_ms = max((time.perf_counter() - t_probe) * 1000 / model_calls, 1e-3)
    pairs = max(opts.pairs, 1)
    per_round = int(min(5000, max(opts.iters // pairs, 1, -(-ROUND_MS // per_call_ms))))

    def reference_round() -> tuple[float, float]:
        """One round of `per_round` reference calls ending in a device sync, per call (wall, CPU time of this
        process); the candidate's processes are stopped meanwhile, so it cannot slow the reference down."""
        cand_model.pause(True)
        try:
            with torch.no_grad():
                sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(per_round):
                    ref_model(*timing_inputs)
                sync(device)
                return (time.perf_counter() - t0) * 1000 / per_round, (time.process_time() - c0) * 1000 / per_round
        finally:
            cand_model.pause(False)

    cand_model.stage(timing_inputs, opts.warmup)
    ref_rounds, cand_rounds = [], []  # (wall ms, CPU ms or None) per call
    for i in range(pairs):
        if i % 2 == 0:
            r = reference_round()
            c = cand_model.round(per_round)
        else:
            c = cand_model.round(per_round)
            r = reference_round()
        ref_rounds.append(r)
        cand_rounds.append(c)
    out, cpu_ok = cand_model.last()  # the candidate's last timed output must still be right
    with torch.no_grad():
        expected = [t.detach() for t in _flatten(ref_model(*_clone(timing_inputs)))]
    for r, c in zip(expected, out):
        tol = _tolerance(r, c)
        if r.shape != c.shape or not torch.allclose(c.to(r.dtype), r, atol=tol, rtol=tol):
            raise ValueError("the candidate's output while being timed is wrong")
    # CPU time (CPU runs) is what the verdict uses where it can be trusted: the candidate's work ran in the threads
    # that were timed (no thread or process came or went, and its processes' totals, which include threads that
    # ended, agree with what those threads ran). Its sandbox has no other process it could hand work to.
    clock, note = "wall", None
    if device.type != "cpu":
        note = f"wall time ({device.type})"
    elif not cpu_ok:
        note = "wall time: the candidate's threads or processes changed while it was timed"
    elif not all(c[1] is not None for c in cand_rounds[1:]):
        note = "wall time: the candidate's CPU time could not be read"
    else:
        clock = "cpu"
    if clock == "cpu":
        ratios = [r[1] / c[1] for r, c in zip(ref_rounds[1:], cand_rounds[1:]) if c[1] > 0]
        ref_ms, cand_ms = _median([r[1] for r in ref_rounds]), _median([c[1] for c in cand_rounds[1:]])
    else:
        ratios = [r[0] / c[0] for r, c in zip(ref_rounds, cand_rounds) if c[0] > 0]
        ref_ms, cand_ms = _median([r[0] for r in ref_rounds]), _median([c[0] for c in cand_rounds])
    ratios = ratios or [0.0]
    report.update(reference_ms=ref_ms, candidate_ms=cand_ms, speedup=_median(ratios), timing_pairs=len(ratios),
                  timing_note=note,
                  speedup_spread=[round(x, 4) for x in _quartiles(ratios)],
                  timer=("process-cpu-time" if clock == "cpu" else "perf_counter")
                  + ("+cuda-sync" if device.type == "cuda" else ""))
    return report


ROUND_MS = 20  # the least time one timed round takes (of the reference)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _quartiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 4], ordered[(3 * len(ordered)) // 4]


def _dumps(obj) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _loads(data: bytes):
    """Tensors and plain containers only (weights_only): no pickled code from the other side is ever run."""
    import io

    import torch

    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


class _RemoteCandidate:
    """The candidate model as the reference child sees it: every call goes over the pipe to the candidate's own
    sandboxed process (relayed by the trusted parent)."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd, self.out_fd = in_fd, out_fd
        self.device = None

    def _request(self, header: dict, payload: bytes = b"") -> tuple[dict, bytes]:
        _send_frame(self.out_fd, header, payload)
        reply, body = _recv_frame(self.in_fd)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error") or "the candidate failed")
        return reply, body

    def build(self, init_inputs, seed: int, device, threads) -> None:
        self.device = device
        self._request({"op": "build", "seed": seed, "device": str(device), "threads": threads},
                      _dumps({"init": list(init_inputs)}))

    def __call__(self, *inputs):
        import torch

        _, body = self._request({"op": "call"}, _dumps([_cpu(v) for v in inputs]))
        data = _loads(body)
        outs = data.get("out") if isinstance(data, dict) else None
        if not isinstance(outs, list) or not all(isinstance(t, torch.Tensor) for t in outs):
            raise TypeError("the candidate returned something other than tensors")
        after = data.get("inputs") or []
        for mine, theirs in zip(inputs, after):  # in-place changes it made to its copy show on ours
            if isinstance(mine, torch.Tensor) and isinstance(theirs, torch.Tensor) and theirs.shape == mine.shape:
                mine.copy_(theirs)  # copy_ converts device and dtype
        return [t.to(self.device) for t in outs]

    def add_noise(self, noise: list) -> bool:
        reply, _ = self._request({"op": "noise"}, _dumps({"noise": noise}))
        return bool(reply.get("applied"))

    def pause(self, stop: bool) -> None:
        """Ask the trusted parent to stop (or continue) every process of the candidate's sandbox."""
        _send_frame(self.out_fd, {"op": "pause" if stop else "resume"})
        _recv_frame(self.in_fd)

    def stage(self, inputs, warmup: int) -> None:
        """Send the timing inputs once and run the warm-up calls (never timed)."""
        self._request({"op": "stage", "warmup": warmup}, _dumps([_cpu(v) for v in inputs]))
        self._pings: list[float] = []
        self._cpu_pings: list[float] | None = []

    def round(self, iters: int) -> tuple[float, float | None]:
        """One round of `iters` calls, per call: (wall time by the trusted parent's clock, CPU time of the
        candidate's processes read by the parent from /proc or None), each less the median empty round trip so far
        (the candidate's own clock is never read)."""
        ping = self._request({"op": "ping"})[0]
        reply = self._request({"op": "time", "iters": iters})[0]
        self._pings.append(float(ping["wall_ms"]))
        wall = max(float(reply["wall_ms"]) - _median(self._pings), 1e-6) / iters
        if ping.get("cpu_ms") is None or reply.get("cpu_ms") is None:
            self._cpu_pings = None
            return wall, None
        if self._cpu_pings is not None:
            self._cpu_pings.append(float(ping["cpu_ms"]))
            return wall, max(float(reply["cpu_ms"]) - _median(self._cpu_pings), 1e-6) / iters
        return wall, None

    def last(self) -> tuple[list, bool]:
        reply, body = self._request({"op": "last"})
        out = _loads(body).get("out", [])
        return [t.to(self.device) for t in out], reply.get("cpu_ok") is True


class _LocalCandidate:
    """The candidate loaded into this process (only for trusted code: the tests of the comparison logic)."""

    def __init__(self, path: str) -> None:
        self.path, self.model = path, None

    def build(self, init_inputs, seed: int, device, threads) -> None:
        import torch

        mod = _load(self.path, "ptp_candidate")
        cls = getattr(mod, "ModelNew", None) or getattr(mod, "Model", None)
        if cls is None:
            raise AttributeError("the candidate module defines neither ModelNew nor Model")
        torch.manual_seed(seed)
        self.model, self.device = cls(*init_inputs).to(device), device

    def __call__(self, *inputs):
        return self.model(*inputs)

    def add_noise(self, noise: list) -> bool:
        return add_noise(self.model, noise)

    def pause(self, stop: bool) -> None:
        pass

    def stage(self, inputs, warmup: int) -> None:
        import torch

        from pytorch_patterns.reference_impls.common import sync

        self.staged = inputs
        with torch.no_grad():
            for _ in range(warmup):
                self.model(*inputs)
        sync(self.device)

    def round(self, iters: int) -> tuple[float, float | None]:
        import time

        import torch

        from pytorch_patterns.reference_impls.common import sync

        with torch.no_grad():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(iters):
                self.out = self.model(*self.staged)
            sync(self.device)
        return (time.perf_counter() - t0) * 1000 / iters, (time.process_time() - c0) * 1000 / iters

    def last(self) -> tuple[list, bool]:
        return [t.detach() for t in _flatten(self.out)], True


def _cpu(value):
    import torch

    return value.detach().cpu() if isinstance(value, torch.Tensor) else value


def _reference_main(in_fd: int, out_fd: int, module: str) -> int:
    import traceback

    try:
        header, _ = _recv_frame(in_fd)
        report = run_compare({"reference": module, "options": header["options"]}, _RemoteCandidate(in_fd, out_fd))
    except Exception as exc:  # noqa: BLE001 -- a broken module becomes a structured error for the parent
        traceback.print_exc()
        _send_frame(out_fd, {"op": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    _send_frame(out_fd, {"op": "result", "report": report})
    return 0


def _candidate_main(in_fd: int, out_fd: int, module: str) -> int:
    """Maps inputs to outputs for the reference child, nothing more; it never sees the reference."""
    import torch

    from pytorch_patterns.reference_impls.common import pick_device, sync
    from pytorch_patterns.reference_impls.integrity import install_audit_hook

    violations: list[str] = []
    install_audit_hook([os.path.dirname(os.path.abspath(module))], violations.append)
    model = device = staged = last = None
    while True:
        try:
            header, payload = _recv_frame(in_fd)
        except (EOFError, OSError, ValueError):
            return 0
        op, body, reply = header.get("op"), b"", {"ok": True}
        try:
            if op == "build":
                if header.get("threads"):
                    torch.set_num_threads(int(header["threads"]))
                device = pick_device(str(header.get("device", "cpu")))
                if device.type == "cuda":
                    torch.backends.cudnn.allow_tf32 = False
                    torch.backends.cuda.matmul.allow_tf32 = False
                mod = _load(module, "ptp_candidate")
                cls = getattr(mod, "ModelNew", None) or getattr(mod, "Model", None)
                if cls is None:
                    raise AttributeError("the candidate module defines neither ModelNew nor Model")
                init = _loads(payload)["init"]
                torch.manual_seed(int(header.get("seed", 0)))
                model = cls(*init).to(device)
            elif op == "noise":
                reply["applied"] = add_noise(model, _loads(payload)["noise"])
            elif op == "call":
                inputs = _to_keeping_strides(list(_loads(payload)), device)
                with torch.no_grad():
                    out = [t.detach() for t in _flatten(model(*inputs))]
                body = _dumps({"out": [t.cpu() for t in out], "inputs": [_cpu(v) for v in inputs]})
            elif op == "stage":
                staged = _to_keeping_strides(list(_loads(payload)), device)
                with torch.no_grad():
                    for _ in range(int(header.get("warmup", 0))):
                        model(*staged)
                sync(device)
            elif op == "time":
                with torch.no_grad():
                    for _ in range(int(header.get("iters", 1))):
                        last = model(*staged)
                    sync(device)
            elif op == "last":  # the output of the last timed call, sent after the clock stopped
                body = _dumps({"out": [t.detach().cpu() for t in _flatten(last)]})
            elif op != "ping":
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # noqa: BLE001 -- the candidate's failure is reported, not fatal to the harness
            reply = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:1000]}"}
        if violations:
            reply["integrity"] = violations[0]
        _send_frame(out_fd, reply, body)


def _child_main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[0] == "--role" and argv[1] in ("reference", "candidate"):
        main = _reference_main if argv[1] == "reference" else _candidate_main
        return main(int(argv[2]), int(argv[3]), argv[4])
    print("usage: python -m pytorch_patterns.reference_impls.compare --role reference|candidate IN_FD OUT_FD MODULE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
