"""Scoring one submission for one task: harness-owned probes in sandboxed child processes.

Scorer and scored apart: the submission is first copied (regular files only, size-capped: no symlinks, FIFOs,
devices or sparse tricks) into a snapshot that everything below reads; its Python files are scanned for
integrity (reference_impls.integrity: frames, gc, ctypes, sys.modules, harness modules, dynamic code...; a hit scores 0).
Each probe run executes in the bubblewrap sandbox (reference_impls.sandbox, level `full`): no network, a
cleared environment, a private size-capped tmpfs workspace holding copies of the submission, nothing of the
host but the system, this Python and the harness's code (read-only); wall-clock, memory (memfds included),
process and output caps. Traces are streamed to this process over a pipe as each run ends (no key or trace
file in the submission's reach), and the runtime audit hook reports integrity violations the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import get_args

import threading

from reference_impls.sandbox import (Containment, Isolation, SandboxInputError, copy_regular_tree, read_regular_file,
                                     run_child, weak_allowed)

from reference_impls.integrity import scan_folder
from .schema import CheckResult, Task, TaskResult

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_KEEP_OUTPUT = 16_000
MAX_TOTAL_OUTPUT = 20_000_000  # a submission that floods more than this is killed
# Untrusted code never runs without full isolation unless PP_ALLOW_WEAK_SANDBOX=1 (`--allow-weak-sandbox`).
# PP_EVAL_REQUIRE_ISOLATION is kept for compatibility: it forces full isolation even when weak is allowed.
REQUIRE_ISOLATION_ENV = "PP_EVAL_REQUIRE_ISOLATION"
MAX_SUBMISSION_MB = 64  # what a submission may bring (files copied into the snapshot)
MAX_FINDINGS_BYTES = 2_000_000
MAX_EVENT_BYTES = 256 << 20


MAX_DISK_MB = 2048  # what a submission may write (checkpoints, outputs) before it is killed


def answer_folders(task: Task) -> list[Path]:
    """What a submission (or the agent writing it) must not read: the task's folder (oracle, mutants), this
    repository's tests (held-out submissions), git history and kept eval runs."""
    folders = [REPO_ROOT / name for name in ("tests", ".git", "runs")]
    if task.root is not None:
        folders.append(task.root)
    return [f for f in folders if f.exists()]


def require_isolation() -> bool:
    return os.environ.get(REQUIRE_ISOLATION_ENV, "") not in ("", "0") or not weak_allowed()


def isolation_for(scratch: Path, task: Task) -> Isolation:
    """The sandbox for a submission's code: `scratch` is its (tmpfs) workspace; nothing else of the host is
    visible but the system, the interpreter and the harness's code; no network, no environment."""
    return Isolation(workspace=scratch, hidden=answer_folders(task), required=require_isolation(), disk_mb=MAX_DISK_MB)


class ProbeRun:
    """One execution of the submission's entry script under the probe."""

    def __init__(self, ok: bool, trace: dict | None, reason: str, output_dir: Path | None):
        self.ok, self.trace, self.reason, self.output_dir = ok, trace, reason, output_dir
        self.containment: str | None = None  # what the sandbox achieved (set by probe_runs for all its runs)
        self.integrity: list[str] = []  # violations the runtime audit hook reported

    @property
    def losses(self) -> list[float]:
        return list(self.trace.get("losses", [])) if self.trace else []


def _env(work: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",  # same thread count in every run: bit-identical CPU losses; fair sharing of cores
        "MKL_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "TMPDIR": str(work),
    }


def probe_runs(task: Task, submission: Path, scratch: Path, runs: list[tuple[str, list[str], str | None]]) -> dict[str, ProbeRun]:
    """Run the submission's entry script several times in ONE sandboxed child (torch imported once).

    `runs` is [(tag, extra args, output-dir tag or None)]: each run gets a fresh copy of the submission
    and its own output folder (or the folder of an earlier run, for --resume).
    """
    plan, outs = [], {}
    for tag, extra, out_of in runs:
        work = scratch / tag
        copy_regular_tree(submission, work, max_bytes=MAX_SUBMISSION_MB << 20)
        outs[tag] = outs[out_of] if out_of else scratch / f"{tag}-out"
        outs[tag].mkdir(parents=True, exist_ok=True)
        plan.append({"trace": str(scratch / f"{tag}-trace.json"), "script": str(work / task.entry),
                     "args": [*task.args, "--output-dir", str(outs[tag]), *extra], "cwd": str(work)})
    if not (submission / task.entry).is_file():
        return {tag: ProbeRun(False, None, f"{task.entry} not found in the submission", outs[tag]) for tag, _, _ in runs}
    plan_path = scratch / "plan.json"
    plan_path.write_text(json.dumps(plan))
    events_r, events_w = os.pipe()
    received: list[bytes] = []

    def read_events() -> None:
        total = 0
        with os.fdopen(events_r, "rb") as fh:
            for line in fh:
                total += len(line)
                if total > MAX_EVENT_BYTES:
                    received.append(b'{"event": "integrity", "what": "flooded the trace pipe"}')
                    break
                received.append(line)

    reader = threading.Thread(target=read_events, daemon=True)
    reader.start()
    try:
        res = run_child([sys.executable, "-I", "-m", "evals.probe", "--events-fd", str(events_w), "--plan", str(plan_path)],
                        timeout_s=task.timeout_s * len(runs), memory_mb=task.memory_mb, max_output_bytes=MAX_KEEP_OUTPUT,
                        cwd=scratch, env=_env(scratch), max_total_output_bytes=MAX_TOTAL_OUTPUT,
                        isolation=isolation_for(scratch, task), pass_fds=(events_w,))
    finally:
        os.close(events_w)
    reader.join(timeout=30)
    traces: dict[int, list[dict]] = {}
    integrity: list[str] = []
    for line in received:
        try:
            event = json.loads(line)
        except ValueError:
            integrity.append("unreadable data on the trace pipe")
            continue
        if not isinstance(event, dict):
            integrity.append("unexpected data on the trace pipe")
        elif event.get("event") == "integrity":
            integrity.append(str(event.get("what"))[:200])
        elif event.get("event") == "trace" and isinstance(event.get("run"), int) and isinstance(event.get("trace"), dict):
            traces.setdefault(event["run"], []).append(event["trace"])
        else:
            integrity.append("unexpected event on the trace pipe")
    out: dict[str, ProbeRun] = {}
    unfinished = None  # the first run without a valid trace: the runs after it never really happened
    for index, (tag, _, _) in enumerate(runs):
        got = traces.get(index, [])
        if integrity:
            out[tag] = ProbeRun(False, None, "integrity: " + "; ".join(integrity[:3]), outs[tag])
            out[tag].integrity = integrity
            continue
        if len(got) > 1:
            out[tag] = ProbeRun(False, None, "refused: more than one trace for this run (forged)", outs[tag])
            unfinished = unfinished or tag
            continue
        trace = got[0] if got else None
        if unfinished is not None:
            out[tag] = ProbeRun(False, None, f"not trusted: the earlier run '{unfinished}' did not finish", outs[tag])
            continue
        if trace is None:
            unfinished = tag
            if res.killed_reason is not None:
                reason = f"killed ({res.killed_reason}): {res.message or ''}".strip()
            elif res.message:
                reason = res.message
            else:
                tail = (res.stderr_tail or "").strip().splitlines()[-3:]
                reason = f"exit {res.returncode}: " + " | ".join(tail)
            out[tag] = ProbeRun(False, None, reason, outs[tag])
        elif trace.get("exit_code") != 0 or trace.get("error"):
            out[tag] = ProbeRun(False, trace, f"exit {trace.get('exit_code')}: {trace.get('error') or ''}".strip(), outs[tag])
        else:
            out[tag] = ProbeRun(True, trace, "", outs[tag])
    for run in out.values():
        run.containment = res.containment
    return out


def score(task: Task, submission: Path, *, agent: str = "", attempt: int = 0) -> TaskResult:
    t0 = time.monotonic()
    cache: dict[str, object] = {}
    refused = None
    with tempfile.TemporaryDirectory(prefix=f"pp-eval-{task.id}-") as tmp:
        # Everything below reads this snapshot, never the submission's own folder.
        snapshot = Path(tmp) / "submission"
        try:
            copy_regular_tree(Path(submission), snapshot, max_bytes=MAX_SUBMISSION_MB << 20)
        except (SandboxInputError, OSError) as exc:
            refused = f"refused: {exc}"
        if refused is None and task.kind in ("fix", "generate", "implement"):
            problems = scan_folder(snapshot)
            if problems:
                refused = "integrity: " + "; ".join(problems[:5])
        if refused is None:
            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            results = _run_checks(task, snapshot, scratch, cache)
        else:
            results = _refused(task, refused)
        runs_seen = cache.get("runs") or {}
        if refused is None and any(getattr(r, "integrity", None) for r in runs_seen.values()):  # type: ignore[union-attr]
            refused = next(r.reason for r in runs_seen.values() if r.integrity)  # type: ignore[union-attr]
            results = _refused(task, refused)
    total = sum(c.weight for c in task.checks)
    got = sum(r.weight for r in results if r.passed)
    runs = cache.get("runs") or {}
    compared = cache.get("compare")
    levels = [r.containment for r in runs.values()] + ([compared.containment] if compared is not None else [])  # type: ignore[union-attr]
    return TaskResult(
        task=task.id, kind=task.kind, families=task.families, attempt=attempt, agent=agent,
        score=round(got / total, 6), passed=all(r.passed for r in results), checks=results,
        wall_s=round(time.monotonic() - t0, 3), sandbox=_weakest(levels), error=refused,
    )


def _refused(task: Task, why: str) -> list[CheckResult]:
    """A refused submission: the first check fails with the reason, the others are not run (score 0)."""
    return [CheckResult(name=c.name, passed=False if i == 0 else None, weight=c.weight,
                        detail=why[:500] if i == 0 else "not run: the submission was refused")
            for i, c in enumerate(task.checks)]


def _weakest(levels: list[str | None]) -> str | None:
    """The weakest containment any child of this scoring ran under (None: no code was executed)."""
    order = list(get_args(Containment))  # weakest first
    seen = [lvl for lvl in levels if lvl in order]
    if not seen:
        return "unknown" if levels else None
    return min(seen, key=order.index)


def _run_checks(task: Task, submission: Path, scratch: Path, cache: dict[str, object]) -> list[CheckResult]:
    out: list[CheckResult] = []
    gated = False
    for check in task.checks:
        if gated:
            out.append(CheckResult(name=check.name, passed=None, weight=check.weight, detail="not run: an earlier gate failed"))
            continue
        try:
            passed, detail = CHECKS[check.name](task, submission, scratch, cache, check.params)
        except Exception as exc:  # noqa: BLE001 -- a broken submission must score 0, never crash the harness
            passed, detail = False, f"check error: {exc.__class__.__name__}: {exc}"
        out.append(CheckResult(name=check.name, passed=passed, weight=check.weight, detail=detail[:500]))
        if check.gate and not passed:
            gated = True
    return out


# ---------------------------------------------------------------------- review checks
def _review_matches(task: Task, submission: Path, cache: dict) -> tuple[int, int, int, str]:
    if "review" not in cache:
        path = submission / "findings.json"
        try:
            reported = json.loads(read_regular_file(path, MAX_FINDINGS_BYTES).decode("utf-8"))
            if not isinstance(reported, list):
                raise ValueError("findings.json must be a JSON list")
            items = [(str(r["rule"]).upper(), int(r["line"]), str(r.get("file", task.expected[0].file))) for r in reported]
        except FileNotFoundError:
            cache["review"] = (0, len(task.expected), 0, "no findings.json in the submission")
            return cache["review"]  # type: ignore[return-value]
        except (ValueError, KeyError, TypeError, OSError) as exc:
            cache["review"] = (0, len(task.expected), 0, f"findings.json is malformed or refused: {exc}")
            return cache["review"]  # type: ignore[return-value]
        # Opt-in rules (off by default, e.g. PT-REP005) are never labelled: reporting one is neither a hit nor a false alarm.
        unscored = _opt_in_rules()
        unmatched = [it for it in items if it[0] not in unscored]
        hits = 0
        for exp in task.expected:
            for i, (rule, line, file) in enumerate(unmatched):
                if rule == exp.rule.upper() and abs(line - exp.line) <= task.line_tolerance and Path(file).name == Path(exp.file).name:
                    hits += 1
                    unmatched.pop(i)
                    break
        cache["review"] = (hits, len(task.expected), len(unmatched), f"{hits}/{len(task.expected)} planted findings found, {len(unmatched)} false alarm(s)")
    return cache["review"]  # type: ignore[return-value]


def _opt_in_rules() -> frozenset[str]:
    from skill.review import all_rules

    return frozenset(r.code for r in all_rules() if not r.default_enabled)


def check_review_recall(task, submission, scratch, cache, params):
    hits, expected, _, detail = _review_matches(task, submission, cache)
    return hits / expected >= params.get("min", 1.0), detail


def check_review_precision(task, submission, scratch, cache, params):
    hits, _, false_alarms, detail = _review_matches(task, submission, cache)
    reported = hits + false_alarms
    if reported == 0:
        return False, detail
    return hits / reported >= params.get("min", 1.0), detail


# ---------------------------------------------------------------------- execution checks
def _executed(task, submission, scratch, cache) -> dict[str, ProbeRun]:
    """All the runs the task's checks need, done once: full; half (+ resume) for determinism/resume."""
    if "runs" not in cache:
        names = {c.name for c in task.checks}
        runs: list[tuple[str, list[str], str | None]] = [("full", ["--max-steps", str(task.steps), "--seed", "0"], None)]
        if names & {"deterministic", "resume"}:
            runs.append(("half", ["--max-steps", str(task.steps // 2), "--seed", "0"], None))
        if "resume" in names:
            runs.append(("resume", ["--max-steps", str(task.steps), "--seed", "0", "--resume"], "half"))
        cache["runs"] = probe_runs(task, submission, scratch, runs)
    return cache["runs"]  # type: ignore[return-value]


def _full(task, submission, scratch, cache) -> ProbeRun:
    return _executed(task, submission, scratch, cache)["full"]


def check_runs(task, submission, scratch, cache, params):
    run = _full(task, submission, scratch, cache)
    if not run.ok:
        return False, run.reason
    trace = run.trace or {}
    if trace.get("steps", 0) < 1 or not run.losses:
        return False, "the script ran but never took an optimizer step on a backward()-ed loss"
    if trace["steps"] != task.steps:  # --max-steps N means N optimizer steps, not N logged iterations
        return False, f"took {trace['steps']} optimizer steps; --max-steps asked for {task.steps}"
    return True, f"{trace['steps']} optimizer steps, {len(run.losses)} losses recorded"


def check_loss_decreases(task, submission, scratch, cache, params):
    run = _full(task, submission, scratch, cache)
    losses = run.losses
    if len(losses) < 4:
        return False, f"only {len(losses)} losses recorded"
    # Losses that fall while no gradient ever reaches the optimizer's parameters are not training (a loss
    # rebuilt from .item(), or numbers made up to look like a curve).
    if (run.trace or {}).get("backward_reached_params", 0) == 0:
        return False, "backward() never produced a gradient for the optimizer's parameters"
    k = max(1, len(losses) // 4)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    ratio = params.get("max_ratio", 0.95)
    return last < first * ratio, f"mean loss first {k}: {first:.4f}, last {k}: {last:.4f}"


def check_modes(task, submission, scratch, cache, params):
    trace = _full(task, submission, scratch, cache).trace or {}
    forwards = [f for f in trace.get("forwards", []) if f[2]]  # models with dropout/batch norm only
    train_bad = sum(1 for training, grad, _ in forwards if grad and not training)
    eval_bad = sum(1 for training, grad, _ in forwards if not grad and training)
    evals = sum(1 for _, grad, _ in forwards if not grad)
    if params.get("require_eval", True) and evals == 0:
        return False, "no evaluation forward under no_grad/inference_mode was observed"
    ok = train_bad == 0 and eval_bad == 0
    return ok, f"{train_bad} training forward(s) in eval mode, {eval_bad} no-grad forward(s) in train mode, {evals} eval forward(s)"


def check_zero_grad(task, submission, scratch, cache, params):
    trace = _full(task, submission, scratch, cache).trace or {}
    dirty = trace.get("backward_dirty", 0)
    ok = dirty == 0 and trace.get("steps", 0) > 0
    detail = f"{dirty} backward() call(s) on gradients left over from the previous step"
    accumulate = int(params.get("accumulate", 0))
    if accumulate > 1:  # gradient accumulation: K backward() calls feed each step, and none is thrown away
        cleared = trace.get("cleared_mid_step", 0)
        per_step = sorted(trace.get("backwards_per_step", [])) or [0]
        median = per_step[len(per_step) // 2]
        ok = ok and cleared == 0 and median >= accumulate
        detail += (f"; {cleared} zero_grad() call(s) discarded gradients before the step; "
                   f"median {median} backward() call(s) per step (need {accumulate})")
    return ok, detail


def check_trains_model(task, submission, scratch, cache, params):
    """The script trains the model the task gives (a script that trains something else is not the task)."""
    trace = _full(task, submission, scratch, cache).trace or {}
    trained = trace.get("trained_modules", [])
    detail = f"optimizer stepped the parameters of: {', '.join(trained) or 'no forwarded module'}"
    wanted = params.get("model")
    if wanted and str(wanted) not in trained:
        return False, f"{detail} (need {wanted})"
    layers = set(trace.get("trained_layers", []))
    missing = [layer for layer in params.get("contains", []) if layer not in layers]  # e.g. torch.nn.modules.rnn.GRU
    if missing:
        return False, f"{detail}; the trained model has no {', '.join(m.rsplit('.', 1)[-1] for m in missing)}"
    return True, detail


def check_lr_schedule(task, submission, scratch, cache, params):
    """The learning rate at given optimizer steps, relative to the first step's (params.ratios: {step: ratio})."""
    lrs = (_full(task, submission, scratch, cache).trace or {}).get("lrs", [])
    if not lrs or not lrs[0]:
        return False, "no learning rate recorded"
    wrong = []
    for step, ratio in sorted((int(k), float(v)) for k, v in params.get("ratios", {}).items()):
        if step >= len(lrs) or lrs[step] is None or abs(lrs[step] / lrs[0] - ratio) > 1e-6 * max(1.0, ratio):
            got = lrs[step] / lrs[0] if step < len(lrs) and lrs[step] else None
            wrong.append(f"step {step + 1}: lr ratio {got if got is None else round(got, 6)} (want {ratio})")
    return not wrong, "; ".join(wrong) or f"learning rate ratios match at {len(params.get('ratios', {}))} steps"


def _half(task, submission, scratch, cache) -> ProbeRun:
    return _executed(task, submission, scratch, cache)["half"]


def check_deterministic(task, submission, scratch, cache, params):
    full = _full(task, submission, scratch, cache).losses
    half = _half(task, submission, scratch, cache)
    if not half.ok:
        return False, half.reason
    n = len(half.losses)
    if n == 0 or full[:n] != half.losses:
        diff = next((i for i, (a, b) in enumerate(zip(full, half.losses)) if a != b), n)
        return False, f"two runs with seed 0 differ (first difference at loss {diff})"
    return True, f"{n} losses bit-identical across runs"


def check_resume(task, submission, scratch, cache, params):
    full = _full(task, submission, scratch, cache).losses
    half = _half(task, submission, scratch, cache)
    if not half.ok:
        return False, half.reason
    resumed = _executed(task, submission, scratch, cache)["resume"]
    if not resumed.ok:
        return False, resumed.reason
    n = len(half.losses)
    tail = full[n:]
    if not resumed.losses or resumed.losses != tail:
        return False, f"resumed run's {len(resumed.losses)} losses differ from the uninterrupted run's last {len(tail)}"
    full_evals = (_full(task, submission, scratch, cache).trace or {}).get("eval_sums", [])
    resumed_evals = (resumed.trace or {}).get("eval_sums", [])
    if resumed_evals and resumed_evals != full_evals[len(full_evals) - len(resumed_evals):]:
        return False, ("same training losses, but evaluation after resume differs from the uninterrupted run "
                       "(state missing from the checkpoint, e.g. batch-norm running statistics)")
    return True, f"steps {n + 1}-{len(full)} identical after resume"


def check_reviewer_clean(task, submission, scratch, cache, params):
    from skill.review import review_paths

    files = [p for p in sorted(submission.rglob("*.py"))]
    if not files:
        return False, "no Python files in the submission"
    report = review_paths([str(p) for p in files], jobs=1)
    problems = [f"{Path(f.file).name}:{f.line} {f.rule}" for f in report.findings] + [e.message for e in report.errors]
    return not problems, "reviewer: " + (", ".join(problems[:8]) if problems else "no findings")


def _compare(task, submission, scratch, cache):
    if "compare" not in cache:
        from reference_impls.compare import CompareOptions, compare

        cand = submission / task.entry
        if not cand.is_file():
            cache["compare"] = None
        else:
            assert task.root is not None and task.reference is not None
            # One thread: timings stay comparable while other tasks run in parallel on the other cores.
            options = CompareOptions(device="cpu", timeout_s=task.timeout_s, memory_mb=task.memory_mb, threads=1)
            # The child sees copies: the task folder is hidden from it, and a submission may live inside one.
            work = scratch / "compare"
            copy_regular_tree(submission, work / "submission", max_bytes=MAX_SUBMISSION_MB << 20)
            reference = work / "reference.py"
            shutil.copyfile(task.root / task.reference, reference)
            iso = isolation_for(work, task)
            iso.copy_back = False
            cache["compare"] = compare(reference, work / "submission" / task.entry, options, cwd=work, isolation=iso)
    return cache["compare"]


def check_matches_reference(task, submission, scratch, cache, params):
    report = _compare(task, submission, scratch, cache)
    if report is None:
        return False, f"{task.entry} not found in the submission"
    if report.correct:
        return True, f"outputs match in {report.trials_passed}/{report.trials} trials (max |diff| {report.max_abs_diff:.2g})"
    return False, "; ".join(report.problems or [report.error or "outputs differ"])[:300]


def check_faster_than_reference(task, submission, scratch, cache, params):
    report = _compare(task, submission, scratch, cache)
    if report is None:
        return False, f"{task.entry} not found in the submission"
    speedup = report.speedup
    if speedup is None:
        return False, "no timing (the candidate failed correctness)"
    need = params.get("min_speedup", 0.8)
    return speedup >= need, f"speed-up {speedup:.2f}x (need >= {need}x)"


CHECKS = {
    "review_recall": check_review_recall,
    "review_precision": check_review_precision,
    "runs": check_runs,
    "loss_decreases": check_loss_decreases,
    "modes": check_modes,
    "zero_grad": check_zero_grad,
    "trains_model": check_trains_model,
    "lr_schedule": check_lr_schedule,
    "deterministic": check_deterministic,
    "resume": check_resume,
    "reviewer_clean": check_reviewer_clean,
    "matches_reference": check_matches_reference,
    "faster_than_reference": check_faster_than_reference,
}
