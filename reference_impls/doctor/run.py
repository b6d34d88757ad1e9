"""Run a user's training script under the doctor's probe and turn what it recorded into a `DoctorReport`.

    report = diagnose("train.py", ["--epochs", "2"], DoctorOptions(steps=20))

The script runs in a child process below the sandbox (`reference_impls.sandbox.Child`: wall-clock timeout,
memory cap, output cap, the whole process tree killed at the end), as the user's own code: its folder is the
working directory (unless `cwd` is given) and its environment is inherited, so its files and imports work.
`isolate=True` adds the sandbox's filesystem isolation (everything read-only but a scratch folder).
`device` only sets CUDA_VISIBLE_DEVICES ("cpu" hides every GPU, "cuda:1" / "1" shows only GPU 1); the script
picks its device itself. `nproc > 1` runs it under `torch.distributed.run` (torchrun, one probe per rank;
gloo on CPU is the script's choice) and merges the ranks' findings.
Importing this module does not import torch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Literal

from pydantic import BaseModel, Field

from pytorch_patterns.reference_impls.interpreter import torch_python
from pytorch_patterns.reference_impls.doctor.checks import DoctorFinding, make_finding, run_checks
from pytorch_patterns.reference_impls.sandbox import Child, ChildResult, Isolation

ProgressCallback = Callable[[float, "float | None", str], None]
ROOT = Path(__file__).resolve().parents[2]
NEEDS_GPU = re.compile(r"(Torch not compiled with CUDA enabled|Found no NVIDIA driver|No CUDA GPUs are available|"
                       r"CUDA driver initialization failed|no CUDA-capable device|CUDA is not available|"
                       r"Attempting to deserialize object on a CUDA device|NCCL.*not available|"
                       r"ProcessGroupNCCL is only supported with GPUs)", re.I)
# Determinism / resume: CPU runs with the same seed and thread count repeat bit for bit; a relative difference
# above 1e-6 is a real difference, not rounding.
SAME_RTOL = 1e-6


class DoctorOptions(BaseModel):
    steps: int = Field(20, ge=1, description="stop cleanly after this many optimizer steps")
    timeout_s: float = Field(300.0, gt=0, description="wall-clock limit for each run of the script")
    memory_mb: int | None = Field(8192, ge=64, description="cap on the process tree's resident memory")
    device: str | None = Field(None, description="sets CUDA_VISIBLE_DEVICES only: 'cpu', 'cuda', 'cuda:N' or 'N'")
    cwd: str | None = Field(None, description="working directory (default: the script's folder)")
    profile: bool = False
    check_determinism: bool = False
    resume_args: list[str] | None = Field(None, description="arguments that make the script resume")
    isolate: bool = Field(False, description="read-only filesystem except a scratch folder")
    nproc: int = Field(1, ge=1, le=16, description="processes under torchrun")
    threads: int | None = Field(None, ge=1, description="torch.set_num_threads in the child before the script")
    max_output_bytes: int = 64_000


class Verdict(BaseModel):
    passed: bool
    detail: str


class Series(BaseModel):
    """Per optimizer step of optimizer 0 (rank 0)."""

    step: list[int] = []
    loss: list[float | None] = []
    lr: list[float | None] = []
    grad_norm: list[float | None] = []
    update_ratio: list[float | None] = []


class DoctorReport(BaseModel):
    script: str
    args: list[str] = []
    ok: bool = Field(description="the script ran and reached at least one optimizer step")
    error: str | None = None
    error_kind: Literal["missing", "no-step", "crash", "needs-gpu", "timeout", "memory", "bad-options"] | None = None
    findings: list[DoctorFinding] = []
    steps: int = 0
    stop_reason: str | None = None  # stopped (after --steps), finished, exit, error, killed
    series: Series = Series()
    clip: dict | None = None  # {"calls", "clipped_share", "max_norm", "median_norm"}
    throughput_steps_s: float | None = None
    data_wait_share: float | None = None
    worker_startup_s: float | None = None
    syncs_per_step: float | None = None
    peak_rss_mb: float | None = None
    cuda_max_allocated_mb: float | None = None
    profile: list[dict] | None = None
    cuda_memory_summary: str | None = None
    determinism: Verdict | None = None
    resume: Verdict | None = None
    ranks: int = 1
    wall_s: float = 0.0
    seen: dict = {}  # what the probe saw: forwards, backwards, batches, optimizers
    output_tail: str | None = None
    notes: list[str] = []


class _Run(BaseModel):
    events: dict[int, list[dict]]
    result: ChildResult | None = None


def diagnose(script: str | os.PathLike, args: list[str] | None = None, options: DoctorOptions | None = None, *,
             progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> DoctorReport:
    options = options or DoctorOptions()
    args = list(args or [])
    path = Path(script).expanduser()
    t0 = time.monotonic()
    if not path.is_file():
        return DoctorReport(script=str(script), args=args, ok=False, error_kind="missing",
                            error=f"{script}: no such file")
    path = path.resolve()
    total_runs = 1 + (1 if options.check_determinism else 0) + (2 if options.resume_args is not None else 0)
    main = _run_once(path, args, options, options.steps, progress=progress, cancel=cancel, run_no=1,
                     total_runs=total_runs)
    report = _build_report(path, args, options, main)
    if report.ok and options.check_determinism and not _cancelled(cancel):
        again = _run_once(path, args, options, options.steps, progress=progress, cancel=cancel, run_no=2,
                          total_runs=total_runs)
        report.determinism = _compare_runs(main, again, 0, "second run with the same seed")
        if not report.determinism.passed:
            report.findings.append(make_finding(
                "PT-RUN020", _first_site(main), "two runs of the script with the same arguments differ: "
                f"{report.determinism.detail}. Seed every generator (torch, numpy, random, loader workers) and "
                "use deterministic algorithms.", evidence={"detail": report.determinism.detail},
                script=str(path)))
    if report.ok and options.resume_args is not None and not _cancelled(cancel):
        half = max(1, options.steps // 2)
        _run_once(path, args, options, half, progress=progress, cancel=cancel, run_no=total_runs - 1,
                  total_runs=total_runs)
        resumed = _run_once(path, args + list(options.resume_args), options, options.steps - half,
                            progress=progress, cancel=cancel, run_no=total_runs, total_runs=total_runs)
        report.resume = _compare_runs(main, resumed, half, f"resumed after {half} steps")
        if not report.resume.passed:
            report.findings.append(make_finding(
                "PT-RUN021", _first_site(main), f"stopping after {half} steps and resuming with "
                f"{' '.join(options.resume_args)} does not reproduce the uninterrupted run: {report.resume.detail}. "
                "Save and restore the optimizer, scheduler, scaler, RNG states and the data position.",
                evidence={"detail": report.resume.detail, "resume_args": options.resume_args}, script=str(path)))
    report.findings.sort(key=lambda f: (f.step if f.step is not None else 1 << 30, f.rule))
    report.wall_s = round(time.monotonic() - t0, 3)
    return report


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


class DoctorCancelled(Exception):
    """The caller cancelled; the child's process group has been killed."""


def _child_argv(path: Path, args: list[str], options: DoctorOptions) -> list[str]:
    if options.nproc > 1:
        return [torch_python(), "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={options.nproc}",
                "-m", "pytorch_patterns.reference_impls.doctor.probe", str(path), *args]
    return [torch_python(), "-m", "pytorch_patterns.reference_impls.doctor.probe", str(path), *args]


def _child_env(options: DoctorOptions, events: Path, steps: int, script: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env["PYTHONUNBUFFERED"] = "1"
    config = {"events": str(events), "steps": steps, "profile": options.profile, "threads": options.threads,
              "script": str(script)}
    env["PP_DOCTOR_CONFIG"] = json.dumps(config)
    if options.device is not None:
        dev = options.device.strip().lower()
        if dev == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif dev.startswith("cuda:"):
            env["CUDA_VISIBLE_DEVICES"] = dev.split(":", 1)[1]
        elif dev.replace(",", "").isdigit():
            env["CUDA_VISIBLE_DEVICES"] = dev
    if options.nproc > 1:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run_once(path: Path, args: list[str], options: DoctorOptions, steps: int, *, progress, cancel, run_no: int,
              total_runs: int) -> _Run:
    scratch = Path(tempfile.mkdtemp(prefix="pp-doctor-"))
    events_dir = scratch / "events"
    events_dir.mkdir()
    try:
        cwd = Path(options.cwd).resolve() if options.cwd else path.parent
        isolation = Isolation(writable=[scratch], read_only=True) if options.isolate else None
        env = _child_env(options, events_dir, steps, path)
        if options.isolate:
            env["HOME"] = env["TMPDIR"] = str(scratch)
        child = Child(_child_argv(path, args, options), cwd=cwd, env=env,
                      max_output_bytes=options.max_output_bytes, isolation=isolation)
        stop = threading.Event()
        watcher = None
        if progress is not None:
            label = f"run {run_no}/{total_runs}: " if total_runs > 1 else ""
            progress(0.0, float(steps), f"{label}starting {path.name}")
            watcher = threading.Thread(target=_watch, args=(events_dir, steps, progress, stop, label), daemon=True)
            watcher.start()
        result = child.supervise(timeout_s=options.timeout_s, memory_mb=options.memory_mb,
                                 max_output_bytes=options.max_output_bytes, cancel=cancel,
                                 max_total_output_bytes=64 << 20)
        stop.set()
        if watcher is not None:
            watcher.join(timeout=2)
        if result.killed_reason == "cancelled":
            raise DoctorCancelled(f"doctor run of {path.name} cancelled; process group killed")
        return _Run(events=_read_events(events_dir), result=result)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _watch(events_dir: Path, steps: int, progress: ProgressCallback, stop: threading.Event, label: str) -> None:
    """Report progress while the child runs: optimizer steps seen so far (rank 0's event file)."""
    last = -1
    while not stop.wait(0.5):
        path = events_dir / "events.0.jsonl"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        done = text.count('"ev": "step"')
        if done != last:
            last = done
            progress(float(min(done, steps)), float(steps), f"{label}{done} optimizer step(s)")


def _read_events(events_dir: Path) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for path in sorted(events_dir.glob("events.*.jsonl")):
        try:
            rank = int(path.name.split(".")[1])
        except ValueError:
            continue
        events = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill
        out[rank] = events
    return out


def _tail(result: ChildResult | None, limit: int = 3000) -> str:
    if result is None:
        return ""
    parts = []
    if result.stderr_tail.strip():
        parts.append(result.stderr_tail[-limit:])
    if result.stdout_tail.strip():
        parts.append("--- stdout ---\n" + result.stdout_tail[-limit // 2:])
    return "\n".join(parts)


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)?: \S|^[A-Za-z_][\w.]*Error$")


def _last_line(text: str) -> str:
    """The exception line of the last traceback (warnings printed after it are not the error), else the last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("---")]
    raw = text.strip().splitlines()
    for i in range(len(raw) - 1, -1, -1):
        if raw[i].startswith("Traceback (most recent call last)"):
            after = [ln for ln in raw[i + 1:] if ln and not ln.startswith((" ", "\t"))]
            if after and EXCEPTION_LINE.match(after[0]):
                return after[0].strip()
            break
    return lines[-1] if lines else ""


MENTIONS_GPU = re.compile(r"\b(cuda|gpus?|nccl)\b", re.I)
FILE_LINE = re.compile(r'^\s*File "([^"]+)", line (\d+)')


def _user_frame(tail: str, script: Path) -> str:
    """' (at train.py:12)': the innermost traceback frame in the user's code (not torch's, not the stdlib's)."""
    found = None
    for line in tail.splitlines():
        m = FILE_LINE.match(line)
        if m and "site-packages" not in m.group(1) and "/lib/python" not in m.group(1) \
                and not m.group(1).startswith("<"):
            found = m
    if found is None:
        return ""
    name = found.group(1)
    try:
        name = str(Path(name).resolve().relative_to(script.parent))
    except ValueError:
        pass
    return f" (at {name}:{found.group(2)})"


def _needs_gpu(tail: str, end: dict | None, start: dict | None) -> bool:
    text = (tail or "") + str((end or {}).get("error") or "")
    if NEEDS_GPU.search(text):
        return True
    # the script's own check ("assert torch.cuda.is_available()", "raise RuntimeError('needs a GPU')") on a
    # machine where torch sees no GPU
    return bool(start) and not start.get("cuda") and bool(MENTIONS_GPU.search(_last_line(text)))


def _build_report(path: Path, args: list[str], options: DoctorOptions, run: _Run) -> DoctorReport:
    result = run.result
    rank0 = run.events.get(0, [])
    end = next((e for e in reversed(rank0) if e.get("ev") == "end"), None)
    start = next((e for e in rank0 if e.get("ev") == "start"), None)
    steps = sum(1 for e in rank0 if e.get("ev") == "step")
    seen = {"forwards": sum(1 for e in rank0 if e.get("ev") == "fwd"),
            "backwards": sum(1 for e in rank0 if e.get("ev") == "bwd"),
            "batches": sum(1 for e in rank0 if e.get("ev") == "batch"),
            "optimizers": sum(1 for e in rank0 if e.get("ev") == "opt"),
            "optimizer_steps": steps}
    report = DoctorReport(script=str(path), args=args, ok=steps > 0, steps=steps, ranks=max(1, len(run.events)),
                          stop_reason=(end or {}).get("reason") or ("killed" if result and result.killed_reason
                                                                     else None),
                          peak_rss_mb=result.peak_rss_mb if result else None, seen=seen)
    tail = _tail(result)
    killed = result is not None and result.killed_reason is not None
    crashed = not killed and ((end or {}).get("reason") == "error"
                              or (result is not None and result.returncode not in (0, None) and end is None))
    if result is not None and result.killed_reason in ("timeout", "memory", "output", "disk"):
        report.notes.append(result.message or result.killed_reason)
    if steps == 0:
        report.output_tail = tail
        what = (f"the probe saw {seen['forwards']} forward(s), {seen['backwards']} backward(s), "
                f"{seen['batches']} batch(es), {seen['optimizers']} optimizer(s) and no optimizer step")
        spawned = sum(1 for e in rank0 if e.get("ev") == "spawn")
        if start is None:
            what = "the script had not started yet: Python was still starting and importing torch"
        elif spawned and not seen["forwards"] and not seen["backwards"]:
            what += (f"; the script started {spawned} process(es) of its own (multiprocessing / "
                     "torch.multiprocessing.spawn) and trains in them, where the probe does not run: launch the "
                     "ranks with torchrun instead (doctor --nproc N) or train in the main process")
        where = _user_frame(tail, path)
        if _needs_gpu(tail, end, start):
            report.error_kind = "needs-gpu"
            report.error = f"the script needs a GPU and this machine has none: {_last_line(tail)}{where}"
        elif crashed:
            report.error_kind = "crash"
            report.error = f"the script crashed before its first optimizer step{where}: {_last_line(tail)} ({what})"
        elif result is not None and result.killed_reason == "timeout":
            report.error_kind = "timeout"
            report.error = f"no optimizer step within {options.timeout_s:g} s: {what}"
        elif result is not None and result.killed_reason == "memory":
            report.error_kind = "memory"
            report.error = f"{result.message} before the first optimizer step ({what})"
        else:
            report.error_kind = "no-step"
            report.error = f"the script ended without an optimizer step: {what}"
        return report
    if crashed:
        report.error_kind = "crash"
        report.error = (f"the script crashed after {steps} optimizer step(s){_user_frame(tail, path)}: "
                        f"{_last_line(tail)}")
        report.output_tail = tail
    elif result is not None and result.killed_reason is not None:
        report.output_tail = tail
    # findings of every rank, merged: one finding per (rule, file, line) with the ranks that showed it
    merged: dict[tuple, DoctorFinding] = {}
    for rank, events in sorted(run.events.items()):
        for f in run_checks(events, str(path)):
            key = (f.rule, f.file, f.line)
            if key in merged:
                merged[key].ranks.append(rank)
            else:
                f.ranks = [rank] if len(run.events) > 1 else []
                merged[key] = f
    report.findings = list(merged.values())
    _fill_stats(report, rank0, end)
    return report


def _fill_stats(report: DoctorReport, events: list[dict], end: dict | None) -> None:
    series = Series()
    last_loss = None
    step_events = []
    for e in events:
        kind = e.get("ev")
        if kind == "bwd" and e.get("loss") is not None:
            last_loss = e["loss"]
        elif kind == "step" and e.get("opt") == 0:
            step_events.append(e)
            series.step.append(e["k"])
            series.loss.append(last_loss)
            series.lr.append((e.get("lr") or [[None]])[0][0])
            series.grad_norm.append(e.get("gnorm"))
            ratios = e.get("ratios") or []
            series.update_ratio.append(median(ratios) if ratios else None)
    report.series = series
    timed = [e for e in step_events[1:] if e.get("dt")]
    if timed:
        total = sum(e["dt"] for e in timed)
        report.throughput_steps_s = round(len(timed) / total, 3) if total > 0 else None
        report.data_wait_share = round(sum(e.get("wait") or 0 for e in timed) / total, 3) if total > 0 else None
        report.syncs_per_step = median(e.get("syncs", 0) for e in timed)
    clips = [e for e in events if e.get("ev") == "clip"]
    if clips:
        norms = [c["norm"] for c in clips]
        report.clip = {"calls": len(clips), "max_norm": clips[0]["max"], "median_norm": median(norms),
                       "clipped_share": round(sum(1 for c in clips if c["norm"] > c["max"]) / len(clips), 3)}
    iters = [e for e in events if e.get("ev") == "iter" and e.get("workers")]
    if iters:
        firsts = [b["wait"] for b in events if b.get("ev") == "batch" and b.get("i") == 0
                  and any(b["loader"] == it["loader"] for it in iters)]
        report.worker_startup_s = round(median(firsts), 4) if firsts else None
    prof = next((e for e in events if e.get("ev") == "profile"), None)
    if prof:
        report.profile = prof.get("ops")
        report.cuda_memory_summary = prof.get("cuda_memory")
    if end:
        report.cuda_max_allocated_mb = end.get("cuda_max_mb")
    report.notes.extend(e["message"] for e in events if e.get("ev") == "note")


def _step_losses(run: _Run) -> tuple[list[float], float | None]:
    events = run.events.get(0, [])
    losses, last = [], None
    for e in events:
        if e.get("ev") == "bwd" and e.get("loss") is not None:
            last = e["loss"]
        elif e.get("ev") == "step" and e.get("opt") == 0:
            losses.append(last)
    end = next((e for e in reversed(events) if e.get("ev") == "end"), {})
    return losses, end.get("weights")


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= SAME_RTOL * max(1.0, abs(a), abs(b))


def _compare_runs(ref: _Run, other: _Run, offset: int, what: str) -> Verdict:
    ref_losses, ref_w = _step_losses(ref)
    got, got_w = _step_losses(other)
    want = ref_losses[offset:offset + len(got)]
    if not got:
        return Verdict(passed=False, detail=f"the {what} made no optimizer step")
    for i, (a, b) in enumerate(zip(want, got, strict=False)):
        if not _close(a, b):
            return Verdict(passed=False, detail=f"{what}: loss at step {offset + i + 1} is {b!r}, the reference run "
                                                f"had {a!r}")
    if offset == 0 and not _close(ref_w, got_w):
        return Verdict(passed=False, detail=f"{what}: final weights differ (checksum {got_w!r} vs {ref_w!r})")
    return Verdict(passed=True, detail=f"{what}: {len(got)} step losses identical")


def _first_site(run: _Run) -> list | None:
    for e in run.events.get(0, []):
        if e.get("ev") == "step":
            return e.get("site")
    return None
