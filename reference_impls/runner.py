"""Run a reference implementation in a sandboxed child process and report what happened.

    report = run_reference("mlp_tabular", RunOptions(steps=50, check_resume=True), progress=callback)

The child (`reference_impls.worker`) emits structured stdout lines; progress events go to `progress(completed,
total, message)` in the calling thread; the result event becomes the `RunReport`. Timeouts, memory-cap
violations and crashes come back as reports with `ok=False`, the error and the output tail. Cancellation kills
the child's process group and raises `RunCancelled`.

Warm workers: with `RunOptions.warm` (the default) the runner keeps one spare worker that has already imported
torch, started after each run for the next one, so a second run skips the interpreter and torch start-up.
Importing this module does not import torch.
"""

from __future__ import annotations

import atexit
import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from pytorch_patterns.reference_impls import registry
from pytorch_patterns.reference_impls.sandbox import Child, ChildResult
from pytorch_patterns.reference_impls.interpreter import torch_python
from pytorch_patterns.reference_impls.worker import PREFIX

ProgressCallback = Callable[[float, "float | None", str], None]


class RunCancelled(Exception):
    """The caller cancelled the run; the child's process group has been killed."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid  # the worker's process group id, for callers that want to verify the clean-up


class RunOptions(BaseModel):
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    steps: int | None = Field(None, ge=1, description="optimizer steps; None = the implementation's smoke size")
    seed: int = 0
    amp: Literal["auto", "none", "bf16", "fp16"] | None = Field(
        None, description="None = the implementation's default (fp32 except mixed_precision's 'auto')")
    compile: bool = False
    check_determinism: bool = False
    check_resume: bool = False
    timeout_s: float = Field(300.0, gt=0)
    memory_mb: int | None = Field(6144, ge=64)
    allow_slow_amp: bool = Field(False, description="run bf16/fp16 even on a CPU that emulates it (40-130x slower)")
    threads: int | None = Field(None, ge=1, description=(
        "torch intra-op threads in the child; None = torch's default, or 1 when the cores are already busy"))
    warm: bool = Field(True, description="use (and afterwards prepare) a warm worker with torch already imported")
    max_output_bytes: int = 64_000


class DeviceInfo(BaseModel):
    type: str
    name: str
    capability: str | None = None  # CPU: ATen's capability (AVX2, AVX512...); CUDA: sm_XY
    memory_mb: int | None = None
    native_bf16: bool | None = None
    native_fp16: bool | None = None
    threads: int | None = None


class TimeSplit(BaseModel):
    startup_s: float  # child start-up until training begins (interpreter, torch import, data and model set-up)
    compile_s: float  # the first compiled step (0 without --compile)
    train_s: float  # the timed training steps
    eval_s: float
    checks_s: float  # the extra runs of --check-determinism / --check-resume
    teardown_s: float  # result hand-over and process exit
    total_s: float  # wall clock seen by the parent
    runner_overhead_s: float  # startup_s + teardown_s: what the runner adds around the work itself


class Verdict(BaseModel):
    passed: bool
    detail: str
    checkpoint_step: int | None = None


class RunReport(BaseModel):
    name: str
    ok: bool
    error: str | None = None
    options: RunOptions
    device: DeviceInfo | None = None
    torch_version: str | None = None
    python_version: str | None = None
    steps: int = 0
    amp: str | None = None
    compiled: bool = False
    losses: list[float] = []
    metric_name: str | None = None
    eval_metric: float | None = None
    throughput: float | None = None
    throughput_unit: str | None = None
    peak_rss_mb: float | None = None
    cuda_max_allocated_mb: float | None = None
    timings: TimeSplit | None = None
    determinism: Verdict | None = None
    resume: Verdict | None = None
    warnings: list[str] = []
    warm_start: bool = False
    killed_reason: str | None = None
    returncode: int | None = None
    output_tail: str | None = None  # stderr + stdout tails when something went wrong


# ---------------------------------------------------------------- warm workers


def worker_argv() -> list[str]:
    return [torch_python(), "-m", "pytorch_patterns.reference_impls.worker"]


class WarmPool:
    """At most one spare worker (torch imported, blocked reading its job). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: Child | None = None

    def take(self) -> Child | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare.alive():
            return spare
        if spare is not None:
            spare.kill_group(grace_s=0.1)
        return None

    def prepare(self, max_output_bytes: int) -> None:
        with self._lock:
            if self._spare is not None and self._spare.alive():
                return
            self._spare = Child(worker_argv(), max_output_bytes=max_output_bytes, stdin_pipe=True)

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Block until the spare worker has imported torch (for benchmarks; runs never need to wait)."""
        with self._lock:
            spare = self._spare
        if spare is None:
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and spare.alive():
            try:
                line = spare.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line.startswith(PREFIX) and '"ready"' in line:
                return True
        return False

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill_group(grace_s=0.5)
            spare.supervise(timeout_s=1, memory_mb=None, max_output_bytes=1000)  # reap and close pipes


DEFAULT_POOL = WarmPool()
atexit.register(DEFAULT_POOL.close)


# ---------------------------------------------------------------- the run


def validate(name: str, options: RunOptions) -> registry.ImplInfo:
    """Reject impossible requests before starting anything."""
    info = registry.get_impl(name)
    if options.amp is not None and options.amp not in info.amp_modes:
        raise ValueError(f"{name} does not support --amp {options.amp} (supported: {', '.join(info.amp_modes)})")
    if options.compile and not info.supports_compile:
        raise ValueError(f"{name} does not support --compile")
    return info


def run_reference(name: str, options: RunOptions, *, progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None, pool: WarmPool | None = None) -> RunReport:
    validate(name, options)
    pool = pool or DEFAULT_POOL
    child = pool.take() if options.warm else None
    warm = child is not None
    t_ref = time.time()  # start-up is measured from here: spawn for a cold worker, job hand-over for a warm one
    if child is None:
        child = Child(worker_argv(), max_output_bytes=options.max_output_bytes, stdin_pipe=True)
    job = {"name": name, "options": options.model_dump(mode="json")}
    child.send((json.dumps(job) + "\n").encode())

    events: dict[str, dict] = {}

    def on_line(line: str) -> None:
        if not line.startswith(PREFIX):
            return
        try:
            event = json.loads(line[len(PREFIX):])
        except json.JSONDecodeError:
            return
        kind = event.get("event")
        if kind == "progress" and progress is not None:
            progress(float(event["completed"]), event.get("total"), str(event.get("message", "")))
        elif kind in ("result", "error"):
            events[kind] = event

    result = child.supervise(timeout_s=options.timeout_s, memory_mb=options.memory_mb,
                             max_output_bytes=options.max_output_bytes, on_line=on_line, cancel=cancel)
    t_done = time.time()
    if options.warm:
        pool.prepare(options.max_output_bytes)  # ready for the next run while the caller reads this report
    if result.killed_reason == "cancelled":
        raise RunCancelled(f"run of {name} cancelled; process group killed", pid=child.pid)
    return _report(name, options, result, events, warm, t_ref, t_done)


def _report(name: str, options: RunOptions, result: ChildResult, events: dict, warm: bool, t_ref: float,
            t_done: float) -> RunReport:
    tail = _output_tail(result)
    base = {"name": name, "options": options, "warm_start": warm, "killed_reason": result.killed_reason,
            "returncode": result.returncode}
    data = events.get("result", {}).get("report")
    if result.killed_reason is not None or data is None:
        if result.message:
            error = result.message
        elif "error" in events:
            error = events["error"]["error"]
        else:
            error = f"worker exited with code {result.returncode} without a result"
        return RunReport(ok=False, error=error, output_tail=tail, peak_rss_mb=result.peak_rss_mb or None, **base)
    startup = max(0.0, data["t_train_begin"] - t_ref)
    teardown = max(0.0, t_done - data["t_end"])
    timings = TimeSplit(
        startup_s=startup, compile_s=data["compile_s"], train_s=data["train_s"], eval_s=data["eval_s"],
        checks_s=max(0.0, data["checks_s"]), teardown_s=teardown, total_s=t_done - t_ref,
        runner_overhead_s=startup + teardown,
    )
    verdicts = [v for v in (data["determinism"], data["resume"]) if v is not None]
    ok = result.returncode == 0 and all(v["passed"] for v in verdicts)
    return RunReport(
        ok=ok, error=None if ok else "a check failed" if verdicts else f"worker exited with {result.returncode}",
        device=DeviceInfo(**data["device"]), torch_version=data["torch_version"],
        python_version=data["python_version"], steps=data["steps"], amp=data["amp"], compiled=data["compiled"],
        losses=data["losses"], metric_name=data["metric_name"], eval_metric=data["eval_metric"],
        throughput=data["throughput"], throughput_unit=data["throughput_unit"],
        peak_rss_mb=max(data["peak_rss_mb"], result.peak_rss_mb), cuda_max_allocated_mb=data["cuda_max_allocated_mb"],
        timings=timings, determinism=Verdict(**data["determinism"]) if data["determinism"] else None,
        resume=Verdict(**data["resume"]) if data["resume"] else None, warnings=data["warnings"],
        output_tail=None if ok else tail, **base,
    )


def _output_tail(result: ChildResult, limit: int = 4000) -> str:
    stdout = "\n".join(line for line in result.stdout_tail.splitlines() if not line.startswith(PREFIX))
    parts = []
    if result.stderr_tail.strip():
        parts.append("--- stderr ---\n" + result.stderr_tail[-limit:])
    if stdout.strip():
        parts.append("--- stdout ---\n" + stdout[-limit:])
    return "\n".join(parts)
