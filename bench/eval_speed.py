"""Eval harness overhead, as ratios measured in the same run.

For each execution task (fix, generate) the oracle submission is run two ways, one after the other:
  * bare: the runs the checks need as plain `python train.py ...` processes (full run; half run and
    `--resume` run when the task checks determinism/resume), same thread count as the harness;
  * harness: `score()` on the same submission: copies into fresh folders, the sandboxed probe child (hooks in
    torch, all runs in one process), the trace checks and the reviewer.
It prints harness / bare per task (the harness imports torch once for all runs, so it can be below 1), then the
wall time of the whole oracle suite on all cores (what `pytorch-patterns eval run --agent oracle` costs).

Run: .venv/bin/python bench/eval_speed.py [--only TASK_OR_KIND ...] [--repeat N] [--no-suite]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytorch_patterns.evals.checks import _env, score
from pytorch_patterns.evals.harness import BUILTIN_TASKS, OracleAgent, run_suite
from pytorch_patterns.evals.schema import Task, load_tasks


def bare_runs(task: Task) -> list[float]:
    """The same runs as the harness, as plain processes, in a scratch copy of the oracle."""
    names = {c.name for c in task.checks}
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        work, out = Path(tmp) / "work", Path(tmp) / "out"
        shutil.copytree(task.oracle_dir, work)
        runs = [["--max-steps", str(task.steps), "--output-dir", str(out / "full")]]
        if names & {"deterministic", "resume"}:
            runs.append(["--max-steps", str(task.steps // 2), "--output-dir", str(out / "half")])
        if "resume" in names:
            runs.append(["--max-steps", str(task.steps), "--output-dir", str(out / "half"), "--resume"])
        times = []
        for extra in runs:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, task.entry, *task.args, "--seed", "0", *extra], cwd=work, env=_env(Path(tmp)),
                           check=True, capture_output=True, timeout=600)
            times.append(time.perf_counter() - t0)
        return times


def harness_run(task: Task) -> float:
    t0 = time.perf_counter()
    result = score(task, task.oracle_dir)
    elapsed = time.perf_counter() - t0
    if result.score != 1.0:
        raise SystemExit(f"{task.id}: the oracle scored {result.score}; run `pytorch-patterns eval calibrate` first")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=None, help="task id or kind (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each task N times, keep the medians")
    parser.add_argument("--no-suite", action="store_true", help="skip the full oracle suite timing")
    args = parser.parse_args()
    console = Console()

    tasks = load_tasks(BUILTIN_TASKS, args.only)
    executed = [t for t in tasks if t.kind in ("fix", "generate")]
    table = Table(title=f"harness overhead per task (oracle submission, median of {args.repeat})")
    for col in ("task", "runs", "bare 1 run s", "bare all runs s", "harness s", "harness / bare all", "harness / bare 1 run"):
        table.add_column(col, justify="left" if col == "task" else "right")
    ratios, ratios_one = [], []
    for task in executed:
        samples = [bare_runs(task) for _ in range(args.repeat)]
        bare_all = statistics.median(sum(s) for s in samples)
        bare_one = statistics.median(s[0] for s in samples)
        harness = statistics.median(harness_run(task) for _ in range(args.repeat))
        ratios.append(harness / bare_all)
        ratios_one.append(harness / bare_one)
        table.add_row(task.id, str(len(samples[0])), f"{bare_one:.2f}", f"{bare_all:.2f}", f"{harness:.2f}",
                      f"{harness / bare_all:.2f}x", f"{harness / bare_one:.2f}x")
    if executed:
        console.print(table)
        console.print(f"harness / bare (all runs as separate processes): median {statistics.median(ratios):.2f}x, "
                      f"max {max(ratios):.2f}x; harness / one bare run: median {statistics.median(ratios_one):.2f}x, "
                      f"max {max(ratios_one):.2f}x over {len(ratios)} tasks")

    if not args.no_suite:
        t0 = time.perf_counter()
        results = run_suite(tasks, OracleAgent())
        wall = time.perf_counter() - t0
        by_kind: dict[str, list[float]] = {}
        for r in results:
            by_kind.setdefault(r.kind, []).append(r.wall_s)
        mean = statistics.fmean(r.score for r in results)
        console.print(f"oracle suite: {len(results)} tasks in {wall:.1f} s on {os.cpu_count()} cores, mean score {mean:.3f}")
        for kind, times in sorted(by_kind.items()):
            console.print(f"  {kind:<10} {len(times):>3} tasks, {sum(times):6.1f} task-seconds, median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
