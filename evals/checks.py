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

import hashlib
import json
import math
import os
import platform
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import get_args

import threading

from pytorch_patterns.reference_impls.sandbox import (Containment, Isolation, SandboxInputError, copy_regular_tree, read_regular_file,
                                     run_child, weak_allowed)

from pytorch_patterns.reference_impls.integrity import scan_folder
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


MAX_DISK_MB = 2048
# A submission shown to train nothing (no gradient reaches the weights, the weights stand still, or the saved model
# is no better than a fresh one on hidden data) scores at most this, whatever its bookkeeping checks say.
UNTRAINED_CAP = 0.25
MIN_WEIGHT_MOVE = 1e-4  # relative distance the trained weights must move over a run (honest runs: 1e-2 and more)  # what a submission may write (checkpoints, outputs) before it is killed


def answer_folders(task: Task) -> list[Path]:
    """What a submission (or the agent writing it) must not read: the task's folder (oracle, mutants), this
    repository's tests (held-out submissions), git history and kept eval runs."""
    folders = [REPO_ROOT / name for name in ("tests", ".git", "runs")]
    try:  # the reference fixes' runs (same_as_reference): created now, so that it is hidden from the first run on
        reference_cache_dir().mkdir(parents=True, exist_ok=True)
        folders.append(reference_cache_dir())
    except OSError:
        pass
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
        outs[tag] = scratch / f"{tag}-out"  # its own folder: a --resume run starts from a copy of out_of's
        outs[tag].mkdir(parents=True, exist_ok=True)
        base = _args_with_device(task.args, UNAVAILABLE_ACCELERATOR) if tag == "device" else task.args
        plan.append({"trace": str(scratch / f"{tag}-trace.json"), "script": str(work / task.entry),
                     "args": [*base, "--output-dir", str(outs[tag]), *extra], "cwd": str(work),
                     **({"copy_from": str(outs[out_of])} if out_of else {})})
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
        res = run_child([sys.executable, "-I", "-m", "pytorch_patterns.evals.probe", "--events-fd", str(events_w), "--plan", str(plan_path)],
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


UNAVAILABLE_ACCELERATOR = "cuda"  # submission children run with CUDA_VISIBLE_DEVICES="": a script that honours it must refuse


def _args_with_device(args: list[str], device: str) -> list[str]:
    out = list(args)
    if "--device" in out and out.index("--device") + 1 < len(out):
        out[out.index("--device") + 1] = device
    else:
        out += ["--device", device]
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
            try:
                results = _run_checks(task, snapshot, scratch, cache)
            finally:
                _release_learned(cache)  # a learned child that no check asked for (a gate failed) exits now
        else:
            results = _refused(task, refused)
        runs_seen = cache.get("runs") or {}
        if refused is None and any(getattr(r, "integrity", None) for r in runs_seen.values()):  # type: ignore[union-attr]
            refused = next(r.reason for r in runs_seen.values() if r.integrity)  # type: ignore[union-attr]
            results = _refused(task, refused)
    total = sum(c.weight for c in task.checks)
    got = sum(r.weight * _credit(r) for r in results)
    cap = cache.get("untrained_cap")  # nothing trained / not its own work: the bookkeeping checks cannot lift it
    if isinstance(cap, float) and any(r.passed is False for r in results):
        got = min(got, cap * total)
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


def _credit(r: CheckResult) -> float:
    if r.credit is not None:
        return r.credit
    return 1.0 if r.passed else 0.0


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
        credit = None
        try:
            verdict = CHECKS[check.name](task, submission, scratch, cache, check.params)
            passed, detail = bool(verdict[0]), verdict[1]
            if len(verdict) > 2:  # a graded check: (passed, detail, credit in [0, 1])
                credit = round(min(1.0, max(0.0, float(verdict[2]))), 6)
                passed = credit >= 1.0
        except Exception as exc:  # noqa: BLE001 -- a broken submission must score 0, never crash the harness
            passed, detail = False, f"check error: {exc.__class__.__name__}: {exc}"
        out.append(CheckResult(name=check.name, passed=passed, weight=check.weight, detail=detail[:500], credit=credit))
        if check.gate and not passed:
            gated = True
    return out


# ---------------------------------------------------------------------- review checks
# Review grading (stated in the README): a finding on the labelled line counts 1, one within the task's
# line_tolerance counts 1/2 (found, but not where the reviewer anchors it: `explain_rule` states the anchor);
# precision is matched findings over reported ones; recall is discounted by precision below 1/2, so a report
# that sprays findings over the file earns neither.
NEAR_CREDIT = 0.5
SPRAY_PRECISION = 0.5


class ReviewTally:
    def __init__(self, exact: int, near: int, expected: int, false_alarms: int, note: str = "") -> None:
        self.exact, self.near, self.expected, self.false_alarms, self.note = exact, near, expected, false_alarms, note

    @property
    def reported(self) -> int:
        return self.exact + self.near + self.false_alarms

    @property
    def recall(self) -> float:
        return (self.exact + NEAR_CREDIT * self.near) / self.expected if self.expected else 0.0

    @property
    def precision(self) -> float:
        return (self.exact + self.near) / self.reported if self.reported else 0.0

    @property
    def detail(self) -> str:
        if self.note:
            return self.note
        return (f"{self.exact + self.near}/{self.expected} planted findings found ({self.near} off the anchor line), "
                f"{self.false_alarms} false alarm(s); recall {self.recall:.2f}, precision {self.precision:.2f}")


def _review_matches(task: Task, submission: Path, cache: dict) -> ReviewTally:
    if "review" not in cache:
        path = submission / "findings.json"
        try:
            reported = json.loads(read_regular_file(path, MAX_FINDINGS_BYTES).decode("utf-8"))
            if not isinstance(reported, list):
                raise ValueError("findings.json must be a JSON list")
            items = [(str(r["rule"]).upper(), int(r["line"]), str(r.get("file", task.expected[0].file))) for r in reported]
        except FileNotFoundError:
            cache["review"] = ReviewTally(0, 0, len(task.expected), 0, "no findings.json in the submission")
            return cache["review"]
        except (ValueError, KeyError, TypeError, OSError) as exc:
            cache["review"] = ReviewTally(0, 0, len(task.expected), 0, f"findings.json is malformed or refused: {exc}")
            return cache["review"]
        # Opt-in rules (off by default, e.g. PT-REP005) are never labelled: reporting one is neither a hit nor a false alarm.
        # (an opt-in rule the task does label, e.g. PT-PERF001 in a host-sync task, is scored like any other)
        unscored = _opt_in_rules() - {e.rule.upper() for e in task.expected}
        unmatched = [it for it in items if it[0] not in unscored]
        exact = near = 0
        matched: set[int] = set()
        for exact_pass in (True, False):  # exact lines first, so a near finding never takes an exact one's label
            for j, exp in enumerate(task.expected):
                if j in matched:
                    continue
                for i, (rule, line, file) in enumerate(unmatched):
                    off = abs(line - exp.line)
                    if (rule == exp.rule.upper() and Path(file).name == Path(exp.file).name
                            and (off == 0 if exact_pass else off <= task.line_tolerance)):
                        matched.add(j)
                        exact, near = exact + exact_pass, near + (not exact_pass)
                        unmatched.pop(i)
                        break
        cache["review"] = ReviewTally(exact, near, len(task.expected), len(unmatched))
    return cache["review"]


def _opt_in_rules() -> frozenset[str]:
    from pytorch_patterns.skill.review import all_rules

    return frozenset(r.code for r in all_rules() if not r.default_enabled)


def check_review_recall(task, submission, scratch, cache, params):
    t = _review_matches(task, submission, cache)
    credit = t.recall * min(1.0, t.precision / SPRAY_PRECISION)
    return credit >= 1.0, t.detail, credit


def check_review_precision(task, submission, scratch, cache, params):
    t = _review_matches(task, submission, cache)
    return t.precision >= 1.0, t.detail, t.precision


# ---------------------------------------------------------------------- execution checks
def _executed(task, submission, scratch, cache) -> dict[str, ProbeRun]:
    """All the runs the task's checks need, done once: full; half (+ resume) for determinism/resume."""
    if "runs" not in cache:
        names = {c.name for c in task.checks}
        runs: list[tuple[str, list[str], str | None]] = [("full", ["--max-steps", str(task.steps), "--seed", "0"], None)]
        if names & {"deterministic", "resume", "learns"}:
            runs.append(("half", ["--max-steps", str(task.steps // 2), "--seed", "0"], None))
        if "resume" in names:
            runs.append(("resume", ["--max-steps", str(task.steps), "--seed", "0", "--resume"], "half"))
        if "device_honoured" in names:  # last: a run that (rightly) fails must not void the runs after it
            runs.append(("device", ["--max-steps", "2", "--seed", "0"], None))
        learns = next((c for c in task.checks if c.name == "learns"), None)
        if learns is not None and (submission / str(learns.params.get("module", task.entry))).is_file():
            cache["learned_child"] = LearnedChild(task, submission, scratch, learns.params)
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
        cache["untrained_cap"] = UNTRAINED_CAP
        return False, "backward() never produced a gradient for the optimizer's parameters"
    # ... nor is a loss that falls while the weights stand still (lr=0, a decaying factor on the loss, a made-up
    # loss plus 1e-30 * sum(params)): the stepped parameters must move (relative distance from the first step).
    moved = (run.trace or {}).get("weights_change")
    min_move = float(params.get("min_move", MIN_WEIGHT_MOVE))
    if moved is not None and moved < min_move:
        cache["untrained_cap"] = UNTRAINED_CAP
        return False, f"the loss is not training the model: the stepped weights moved {moved:.2g} (need >= {min_move:g})"
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
        cache["untrained_cap"] = UNTRAINED_CAP
        return False, f"{detail} (need {wanted})"
    changes = trace.get("module_changes") or {}
    if wanted and str(wanted) in changes and changes[str(wanted)] < MIN_WEIGHT_MOVE:
        # stepped but never changed: joined to the loss with weight 0, or its gradients zeroed
        cache["untrained_cap"] = UNTRAINED_CAP
        return False, f"{detail}, but its weights moved {changes[str(wanted)]:.2g} (need >= {MIN_WEIGHT_MOVE:g})"
    layers = set(trace.get("trained_layers", []))
    missing = [layer for layer in params.get("contains", []) if layer not in layers]  # e.g. torch.nn.modules.rnn.GRU
    if missing:
        cache["untrained_cap"] = UNTRAINED_CAP  # trained, but not the model the task asks for
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
    from pytorch_patterns.skill.review import review_paths

    files = [p for p in sorted(submission.rglob("*.py"))]
    if not files:
        return False, "no Python files in the submission"
    report = review_paths([str(p) for p in files], jobs=1)
    problems = [f"{Path(f.file).name}:{f.line} {f.rule}" for f in report.findings] + [e.message for e in report.errors]
    return not problems, "reviewer: " + (", ".join(problems[:8]) if problems else "no findings")


def _compare(task, submission, scratch, cache):
    if "compare" not in cache:
        from pytorch_patterns.reference_impls.compare import CompareOptions, compare

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
    need = float(params.get("min_speedup", 1.1))
    spread = report.speedup_spread
    how = (f" (median of {report.timing_pairs} interleaved pairs, quartiles {spread[0]:.2f}-{spread[1]:.2f}x)"
           if spread and report.timing_pairs else "")
    note = f"; {report.timing_note}" if report.timing_note else ""
    return speedup >= need, f"speed-up {speedup:.2f}x{how} (need >= {need}x){note}"


# ---------------------------------------------------------------------- checks that judge the work (issue 13)
def check_device_honoured(task, submission, scratch, cache, params):
    """Run with --device cuda where no GPU is visible: a script that honours --device fails; one that trains on the
    CPU anyway ignored it."""
    run = _executed(task, submission, scratch, cache)["device"]
    trace = run.trace or {}
    if run.ok and trace.get("steps", 0) > 0:
        return False, f"asked for --device {UNAVAILABLE_ACCELERATOR} (not available here), it trained on the CPU anyway"
    if run.reason.startswith(("not trusted", "refused")):
        return False, run.reason
    return True, f"--device {UNAVAILABLE_ACCELERATOR} refused where no GPU is visible ({run.reason[:120] or 'no step taken'})"


def check_disjoint_validation(task, submission, scratch, cache, params):
    """Some evaluation forward sees only samples the model was never trained on (by fingerprint of each sample)."""
    trace = _full(task, submission, scratch, cache).trace or {}
    overlap = trace.get("eval_overlap", [])
    if not overlap:
        if any(not grad for _, grad, _ in trace.get("forwards", [])):  # inputs that are not one tensor (a dict batch)
            return True, "evaluation forwards seen, but their inputs could not be fingerprinted (not a tensor)"
        # No evaluation under no_grad at all: that is the modes check's finding, not a leak of training data.
        return True, "nothing to compare: no evaluation forward under no_grad/inference_mode (see modes)"
    clean = sum(1 for n, seen in overlap if n and seen == 0)
    rows = sum(n for n, _ in overlap)
    trained_on = sum(seen for _, seen in overlap)
    detail = (f"{clean}/{len(overlap)} evaluation forward(s) on unseen samples; {trained_on}/{rows} evaluated samples "
              f"were trained on ({trace.get('train_rows', 0)} distinct training samples)")
    return clean > 0, detail


def check_accumulation(task, submission, scratch, cache, params):
    """Each optimizer step (the first few) stands for a batch of k distinct micro-batches, and the gradient it steps
    with is the gradient of that batch: the probe computes, on the submission's own graph (same weights, same dropout
    masks), the gradient of the mean loss over every sample whose loss fed the step's backward() calls, and compares
    it with the parameters' .grad at the step (before clipping). Two backward passes on one micro-batch, a loss not
    divided by k, gradients zeroed inside the window or left from the previous step fail; a sum-reduced loss over
    the window's samples, manual `p.grad +=` accumulation or autograd.grad-based steps pass.

    params: k, grad_tolerance (relative error of the gradient, default 1e-3); where no torch loss function is seen,
    the scale of each backward()-ed loss relative to its mean is checked instead (scale_tolerance, default 0.15)."""
    k = int(params.get("k", 2))
    tol = float(params.get("scale_tolerance", 0.15))
    grad_tol = float(params.get("grad_tolerance", 1e-3))
    steps = [r for r in (_full(task, submission, scratch, cache).trace or {}).get("accumulation", []) if r["backwards"]]
    if not steps:
        return False, "no optimizer step with a backward() was observed"
    problems = []
    for i, r in enumerate(steps):
        if r["distinct_inputs"] < k:
            problems.append(f"step {i + 1}: {r['backwards']} backward() call(s) on {r['distinct_inputs']} distinct "
                            f"micro-batch(es) (need {k})")
    measured = [(i, r) for i, r in enumerate(steps) if r.get("grad_error") is not None]
    if measured:
        worst = max(r["grad_error"] for _, r in measured)
        for i, r in measured:
            if r["grad_error"] > grad_tol:
                problems.append(f"step {i + 1}: the gradient it steps with is not the mean-loss gradient of its "
                                f"{r['grad_samples']:g} samples (relative error {r['grad_error']:.3g}, "
                                f"{r['grad_scale']:.3g}x along it)")
        if problems:
            return False, "; ".join(dict.fromkeys(problems))[:400]
        return True, (f"{len(steps)} steps checked: {k} distinct micro-batches each; at {len(measured)} of them the "
                      f"gradient equals the full-batch gradient of the step's samples (relative error <= {worst:.1e})")
    scales = []
    for i, r in enumerate(steps):
        for sc in r["scales"]:
            if sc is not None:
                scales.append(sc)
                if abs(sc * k - 1.0) > tol:
                    problems.append(f"step {i + 1}: a micro-batch loss scaled by {sc:.3g} (need 1/{k})")
    if problems:
        return False, "; ".join(dict.fromkeys(problems))[:400]
    why = next((r.get("grad_unknown") for r in steps if r.get("grad_unknown")), "")
    how = f"each loss scaled by 1/{k}" if scales else "loss scale not measured (no torch loss function seen)"
    return True, f"{len(steps)} steps checked: {k} distinct micro-batches each, {how}; gradient not compared: {why}"[:500]


# The reference fix's run, per task content: computed once per process (and kept on disk, out of submissions' view).
_REFERENCE_RUNS: dict[str, dict] = {}
_REFERENCE_LOCK = threading.Lock()


def reference_cache_dir() -> Path:
    root = os.environ.get("PP_EVAL_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                                                           "pytorch-patterns", "eval-reference")
    return Path(root)


def _reference_key(task: Task) -> str:
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "?"
    h.update(json.dumps([task.id, task.args, task.steps, task.entry, torch_version, sys.version, platform.machine()]).encode())
    assert task.root is not None
    for path in sorted(p for p in task.oracle_dir.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(task.oracle_dir)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:32]


def _reference_run(task: Task, scratch: Path) -> dict:
    key = _reference_key(task)
    with _REFERENCE_LOCK:
        if key in _REFERENCE_RUNS:
            return _REFERENCE_RUNS[key]
    path = reference_cache_dir() / f"{key}.json"
    try:
        got = json.loads(path.read_text())
        if isinstance(got, dict) and "losses" in got:
            _REFERENCE_RUNS[key] = got
            return got
    except (OSError, ValueError):
        pass
    work = scratch / "reference"
    work.mkdir()
    run = probe_runs(task, task.oracle_dir, work, [("full", ["--max-steps", str(task.steps), "--seed", "0"], None)])["full"]
    if not run.ok:
        raise RuntimeError(f"the reference fix itself failed: {run.reason}")
    got = {"losses": run.losses, "eval_sums": (run.trace or {}).get("eval_sums", [])}
    with _REFERENCE_LOCK:
        _REFERENCE_RUNS[key] = got
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(got))
        tmp.replace(path)
    except OSError:
        pass
    return got


def _close(a: list[float], b: list[float], rtol: float, atol: float) -> int | None:
    """The first index where a and b differ beyond the tolerance (len of the shorter one if lengths differ)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if not abs(x - y) <= atol + rtol * max(abs(y), 1.0):
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def check_same_as_reference(task, submission, scratch, cache, params):
    """Pass-to-pass: for the same seed the fixed script trains like the reference fix (losses, evaluation outputs).

    params: rtol/atol (per loss, default 1e-3 / 1e-4), evals (compare evaluation outputs too, default true),
    mode "exact" (step by step) or "mean" (mean loss over the run within rtol: for a task where correct fixes
    may draw a different split or order)."""
    run = _full(task, submission, scratch, cache)
    if not run.ok:
        return False, run.reason
    ref = _reference_run(task, scratch)
    rtol, atol = float(params.get("rtol", 1e-3)), float(params.get("atol", 1e-4))
    mine, theirs = run.losses, ref["losses"]
    if params.get("mode", "exact") == "mean":
        if not mine or len(mine) != len(theirs):
            return False, f"{len(mine)} losses recorded; the reference fix records {len(theirs)}"
        a, b = sum(mine) / len(mine), sum(theirs) / len(theirs)
        ok = abs(a - b) <= rtol * abs(b)
        return ok, f"mean loss {a:.4f}, reference fix {b:.4f} (tolerance {rtol:.0%})"
    diff = _close(mine, theirs, rtol, atol)
    if diff is not None:
        if len(mine) != len(theirs) and diff == min(len(mine), len(theirs)):
            return False, f"{len(mine)} losses recorded; the reference fix records {len(theirs)} for the same seed"
        return False, (f"training differs from the reference fix for the same seed from loss {diff + 1}: "
                       f"{mine[diff]:.5f} vs {theirs[diff]:.5f} (rtol {rtol:g})")
    if params.get("evals", True):
        ev, ref_ev = (run.trace or {}).get("eval_sums", []), ref["eval_sums"]
        diff = _close(ev, ref_ev, float(params.get("eval_rtol", 1e-3)), float(params.get("eval_atol", 1e-3)))
        if diff is not None:
            return False, (f"same training losses, evaluation outputs differ from the reference fix's "
                           f"(evaluation {diff + 1} of {len(ref_ev)})")
    return True, f"{len(mine)} losses (and evaluation outputs) match the reference fix within rtol {rtol:g}"


LEARNED_PREFIX = "@@pp-learned "
UNTRAINED_RATIO = 0.98  # hidden-data loss within 2% of an untrained model's: nothing was learned


class LearnedChild:
    """The learned child (evals/learned.py): after the submission's runs have ended, a separate sandboxed child gets
    copies of the checkpoints those runs saved (regular files only) and of the submission's code. It draws the hidden
    data from a seed sent on stdin and prints the targets before it imports any submission code, then loads the
    checkpoints and prints the model's outputs. Its workspace is a private copy: nothing the submission's runs do can
    reach it, and the seed is never written anywhere the submission's runs could read."""

    def __init__(self, task: Task, submission: Path, scratch: Path, params: dict) -> None:
        self.task, self.submission, self.scratch, self.params = task, submission, scratch, params
        self.events: list[dict] = []
        self.result = None

    def _on_line(self, line: str) -> None:
        if line.startswith(LEARNED_PREFIX) and len(self.events) < 8:
            try:
                self.events.append(json.loads(line[len(LEARNED_PREFIX):]))
            except ValueError:
                self.events.append({"event": "garbled"})

    def finish(self, go: bool) -> dict:
        """Run the child on the runs' checkpoints (go) and collect what it printed; without go, nothing runs."""
        if not go:
            return {"res": None}
        task, params = self.task, self.params
        work = Path(tempfile.mkdtemp(prefix="pp-learned-"))
        try:
            copy_regular_tree(self.submission, work / "code", max_bytes=MAX_SUBMISSION_MB << 20)
            for tag in ("full", "half"):
                src = self.scratch / f"{tag}-out"
                if src.is_dir():
                    copy_regular_tree(src, work / "ckpt" / tag, max_bytes=MAX_SUBMISSION_MB << 20)
                else:
                    (work / "ckpt" / tag).mkdir(parents=True, exist_ok=True)
            (work / "cwd").mkdir()
            go_file = work / "go.json"
            go_file.write_text(json.dumps({"go": True}))
            job = {"seed": secrets.randbits(62), "module": str(work / "code" / str(params.get("module", task.entry))),
                   "model": params["model"], "init": params.get("init", []), "data": params["data"], "go": str(go_file),
                   "checkpoints": {"full": str(work / "ckpt" / "full"), "half": str(work / "ckpt" / "half")}}
            boot = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); from pytorch_patterns.evals.learned import main; sys.exit(main())"
            self.result = run_child([sys.executable, "-I", "-c", boot], timeout_s=task.timeout_s + 60,
                                    memory_mb=task.memory_mb, max_output_bytes=MAX_KEEP_OUTPUT, cwd=work / "cwd",
                                    env=_env(work), on_line=self._on_line, max_total_output_bytes=MAX_TOTAL_OUTPUT,
                                    stdin_data=(json.dumps(job) + "\n").encode(), isolation=isolation_for(work, task))
        except (SandboxInputError, OSError) as exc:
            return {"res": None, "error": {"event": "error", "error": f"refused: {exc}"}}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out: dict = {"res": self.result}
        if self.events and self.events[0].get("event") == "targets":  # the first line only: printed before any submission code ran
            out["targets"] = self.events[0].get("targets")
            later = [e for e in self.events[1:] if e.get("event") in ("outputs", "error")]
            if later:
                out[later[-1]["event"]] = later[-1]
        return out


def _release_learned(cache: dict) -> None:
    child = cache.pop("learned_child", None)
    if child is not None:
        child.finish(go=False)


def _learned(task, submission, scratch, cache, params) -> dict:
    if "learned" not in cache:
        _executed(task, submission, scratch, cache)
        child = cache.pop("learned_child", None)
        cache["learned"] = child.finish(go=True) if child is not None else {"res": None}
    return cache["learned"]  # type: ignore[return-value]


def _cross_entropy(outputs, targets) -> float | None:
    """Mean cross-entropy of raw outputs (logits or log-probabilities) against class targets, in this process."""
    if not isinstance(outputs, list) or len(outputs) != len(targets):
        return None
    total = 0.0
    for row, y in zip(outputs, targets):
        if not isinstance(row, list) or not row or not 0 <= y < len(row):
            return None
        top = max(row)
        if not math.isfinite(top):
            return None
        total += top + math.log(sum(math.exp(v - top) for v in row)) - row[y]
    return total / len(targets)


def check_learns(task, submission, scratch, cache, params):
    """The model the task gives learned: loaded from the checkpoints the submission saved by a separate sandboxed
    child, it beats fresh copies of the same class on hidden data (loss ratio <= params.max_ratio), and its
    weights moved between the half and the full run (params.min_move)."""
    full = _full(task, submission, scratch, cache)
    if not full.ok:
        return False, full.reason
    got = _learned(task, submission, scratch, cache, params)
    name = f"{params['model']}({', '.join(map(str, params.get('init', [])))})"
    if "error" in got:
        return False, f"could not evaluate the saved model: {got['error'].get('error', '')}"[:300]
    if "outputs" not in got or not got.get("targets"):
        res = got["res"]
        if res is None:
            return False, f"{params.get('module', task.entry)} not found in the submission"
        return False, f"the evaluation child failed: {res.message or res.killed_reason or res.returncode} {res.stderr_tail[-200:]}"
    outputs, targets = got["outputs"], got["targets"]
    if outputs.get("full") is None:
        return False, f"no checkpoint in --output-dir holds weights that load into {name}"
    trained = _cross_entropy(outputs["full"], targets)
    fresh = [_cross_entropy(o, targets) for o in outputs.get("fresh", [])]
    if trained is None or not fresh or any(f is None for f in fresh):
        return False, f"{name} outputs on hidden data are not finite class scores"
    base = sum(fresh) / len(fresh)
    ratio = float(params.get("max_ratio", 0.9))
    moved = outputs.get("moved")
    min_move = float(params.get("min_move", 1e-3))
    detail = (f"hidden-data loss {trained:.4f} vs {base:.4f} for untrained {params['model']} (need <= {ratio}x); "
              f"weights moved {moved if moved is None else f'{moved:.3g}'} between steps {task.steps // 2} and {task.steps}")
    if moved is None or moved < min_move or trained > UNTRAINED_RATIO * base:
        cache["untrained_cap"] = UNTRAINED_CAP
    if moved is None or moved < min_move:
        return False, detail + f" (need >= {min_move:g})"
    return trained <= ratio * base, detail


def check_independent(task, submission, scratch, cache, params):
    """Implement: the candidate neither imports nor calls the reference, and is not a copy of it (normalised AST)."""
    import ast
    import difflib

    assert task.root is not None and task.reference is not None
    cand_path = submission / task.entry
    if not cand_path.is_file():
        return False, f"{task.entry} not found in the submission"
    ref_stem = Path(task.reference).stem
    try:
        cand = ast.parse(cand_path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        return False, f"{task.entry} does not parse: {exc}"
    ref = ast.parse((task.root / task.reference).read_text(encoding="utf-8"))
    defined = {n.name for n in ast.walk(cand) if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    problems = []
    for node in ast.walk(cand):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == ref_stem for a in node.names):
            problems.append(f"imports {ref_stem}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == ref_stem:
            problems.append(f"imports from {ref_stem}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _names_module(node.value, ref_stem):
            problems.append(f"names {node.value!r}")
        elif isinstance(node, ast.Name) and node.id in ("__import__", "importlib", "runpy", "exec", "eval"):
            problems.append(f"uses {node.id}")
        elif isinstance(node, ast.Name) and node.id == "Model" and "Model" not in defined:
            problems.append("uses the reference's Model")
    if problems:
        cache["untrained_cap"] = 0.0  # not the candidate's own work: nothing it passed counts
        return False, "the candidate relies on the reference: " + ", ".join(dict.fromkeys(problems))
    similarity = difflib.SequenceMatcher(None, _shape(_model_class(ref, "Model")), _shape(_model_class(cand, "ModelNew")),
                                         autojunk=False).ratio()
    limit = float(params.get("max_similarity", 0.95))
    if similarity > limit:
        cache["untrained_cap"] = 0.0
    return similarity <= limit, f"normalised-AST similarity to the reference's Model {similarity:.2f} (copy above {limit})"


def _names_module(text: str, stem: str) -> bool:
    """A string that names the reference module or file ('reference', 'reference.py', 'dir/reference.py'), not
    prose that happens to contain the word."""
    t = text.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return t in (stem, f"{stem}.py", f"{stem}.pyc")


def _model_class(tree, name: str):
    import ast

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    return tree


def _shape(node) -> list[str]:
    """The node types and operators of a tree, names, constants and docstrings left out."""
    import ast

    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str):
            continue
        if isinstance(n, (ast.Load, ast.Store, ast.Del, ast.Constant, ast.Name, ast.arg, ast.arguments)):
            continue
        out.append(type(n).__name__ + (f".{n.attr}" if isinstance(n, ast.Attribute) else ""))
    return out


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
    "same_as_reference": check_same_as_reference,
    "device_honoured": check_device_honoured,
    "learns": check_learns,
    "accumulation": check_accumulation,
    "disjoint_validation": check_disjoint_validation,
    "independent": check_independent,
}
