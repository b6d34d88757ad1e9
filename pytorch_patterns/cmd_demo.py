"""`pytorch-patterns demo` (what `make demo` runs): what the tools do, on bundled material, in about two minutes.

1. the reviewer on a realistic buggy training script: its findings, then the safe fixes as a diff;
2. the training doctor on the same script: a few real steps under probes (when the doctor is installed);
3. a generated training script, run for a few steps on synthetic data;
4. the eval suite's review tasks with the reviewer as the agent: how well the static reviewer alone scores.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO_SCRIPT = Path(__file__).resolve().parent / "demo" / "train_buggy.py"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="show what the tools do, on bundled material (~2 min)")
    p.add_argument("--skip", default="", help="comma list of steps to skip: review,doctor,generate,eval")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.rule import Rule

    console = Console(soft_wrap=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    steps = [("review", "The reviewer on a buggy training script", _review),
             ("doctor", "The training doctor on the same script (20 real steps under probes)", _doctor),
             ("generate", "A generated training script, run for 20 steps on synthetic data", _generate),
             ("eval", "The eval suite's review tasks, scored with the reviewer as the agent", _eval)]
    failed = []
    with tempfile.TemporaryDirectory(prefix="pp-demo-") as tmp:
        work = Path(tmp)
        shutil.copy(DEMO_SCRIPT, work / "train.py")
        for i, (key, title, fn) in enumerate(steps, 1):
            console.print(Rule(f"[bold]{i}/{len(steps)} {title}"))
            if key in skip:
                console.print("(skipped)")
                continue
            t0 = time.monotonic()
            ok = fn(console, work)
            console.print(f"[dim]({time.monotonic() - t0:.0f} s)[/dim]")
            if not ok:
                failed.append(key)
    console.print(Rule())
    console.print("Next: `.venv/bin/pytorch-patterns review YOUR_CODE/`, `.venv/bin/pytorch-patterns doctor train.py`, "
                  "or the Claude Code plugin (README).")
    if failed:
        console.print(f"[red]steps that did not complete: {', '.join(failed)}[/red]")
    return 1 if failed else 0


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytorch_patterns", *args], cwd=cwd, text=True, capture_output=True)


def _review(console, work: Path) -> bool:
    console.print(f"$ pytorch-patterns review train.py   [dim](a copy of {DEMO_SCRIPT.name})[/dim]")
    res = _cli("review", "train.py", cwd=work)
    console.print(res.stdout.rstrip(), markup=False, highlight=False)
    console.print(res.stderr.rstrip(), markup=False, highlight=False)
    console.print("$ pytorch-patterns review train.py --diff   [dim](the mechanical fixes it can apply with --fix)[/dim]")
    diff = _cli("review", "train.py", "--diff", "--unsafe-fixes", "--quiet", cwd=work)
    hunks = "\n".join(ln for ln in diff.stdout.splitlines() if ln.startswith(("---", "+++", "@@", "+", "-", " ")))
    console.print(hunks if "@@" in hunks else "(no mechanical fixes here: each finding above needs a person's edit; "
                  "`explain_rule` / `pytorch-patterns rules CODE` says how)", markup=False, highlight=False)
    return res.returncode in (0, 1)


def _doctor(console, work: Path) -> bool:
    if importlib.util.find_spec("pytorch_patterns.reference_impls.doctor") is None:
        console.print("(the training doctor is not part of this build)")
        return True
    console.print("$ pytorch-patterns doctor train.py --steps 20 -- --epochs 3")
    proc = subprocess.run([sys.executable, "-m", "pytorch_patterns", "doctor", "train.py", "--steps", "20", "--", "--epochs", "3"],
                          cwd=work, text=True, capture_output=True)
    console.print((proc.stdout + proc.stderr).rstrip(), markup=False, highlight=False)
    return proc.returncode in (0, 1)


def _generate(console, work: Path) -> bool:
    console.print("$ pytorch-patterns generate train-loop --set task=classification -o gen/train.py")
    res = _cli("generate", "train-loop", "--set", "task=classification", "-o", "gen/train.py", cwd=work)
    console.print((res.stdout + res.stderr).rstrip(), markup=False, highlight=False)
    if res.returncode != 0:
        return False
    console.print("$ python gen/train.py --synthetic-data --max-steps 20")
    proc = subprocess.Popen([sys.executable, "gen/train.py", "--synthetic-data", "--max-steps", "20"], cwd=work, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:
        console.print("  " + line.rstrip(), markup=False, highlight=False)
    return proc.wait() == 0


def _eval(console, work: Path) -> bool:
    console.print("$ pytorch-patterns eval run --agent reviewer --only review")
    proc = subprocess.run([sys.executable, "-m", "pytorch_patterns", "eval", "run", "--agent", "reviewer", "--only", "review",
                           "-o", str(work / "eval")], cwd=work, text=True, capture_output=True)
    summary = work / "eval" / "summary.md"
    console.print(summary.read_text() if summary.exists() else (proc.stdout + proc.stderr)[-3000:], markup=False, highlight=False)
    return proc.returncode in (0, 1)
