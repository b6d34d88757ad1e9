"""What the sandbox's containment costs per child, as ratios against a bare subprocess measured in the same run.

Each round starts the same short child four ways, interleaved so that load changes hit all alike:
* bare: `subprocess.run` (no sandbox at all; the baseline);
* weak: `run_child` (child subreaper below the supervisor, tree accounting, bounded waits);
* full: `run_child(isolation=Isolation(workspace=...))` (bubblewrap: every namespace, no network, the private
  tmpfs workspace with a file copied in and back out, the in-sandbox start-up program);
* full + hidden: the eval harness's setting (answer folders hidden as well).
The child is `python -c pass` (start-up dominated: the worst case for a relative overhead) and, with --torch,
`python -c "import torch"` (what every real job pays anyway).

Run: .venv/bin/python bench/sandbox_overhead.py [--rounds N] [--torch]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytorch_patterns.reference_impls.sandbox import Isolation, run_child  # noqa: E402  (needs sys.path above)

REPO = Path(__file__).resolve().parents[1]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--torch", action="store_true", help="also time a child that imports torch")
    args = ap.parse_args()
    children = {"python -c pass": [sys.executable, "-c", "pass"]}
    if args.torch:
        children["python -c 'import torch'"] = [sys.executable, "-c", "import torch"]
    table = Table(title=f"sandbox overhead per child (median of {args.rounds})")
    for col in ("child", "mode", "ms", "ratio vs bare", "containment"):
        table.add_column(col, justify="right" if col in ("ms", "ratio vs bare") else "left")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "train.py").write_text("print('a file to copy in and back out')\n")
        hidden = [REPO / "tests", REPO / ".git"]
        modes = {
            "bare": lambda argv: subprocess.run(argv, check=True, capture_output=True),
            "weak": lambda argv: run_child(argv, timeout_s=60, memory_mb=None, max_output_bytes=10_000),
            "full": lambda argv: run_child(argv, timeout_s=60, memory_mb=None, max_output_bytes=10_000,
                                           cwd=work, isolation=Isolation(workspace=work)),
            "full + hidden": lambda argv: run_child(
                argv, timeout_s=60, memory_mb=None, max_output_bytes=10_000, cwd=work,
                isolation=Isolation(workspace=work, hidden=[h for h in hidden if h.exists()])),
        }
        for label, argv in children.items():
            times: dict[str, list[float]] = {m: [] for m in modes}
            levels: dict[str, str] = {}
            for mode, fn in modes.items():  # warm-up: page cache, pyc files
                result = fn(argv)
                levels[mode] = getattr(result, "containment", None) or "-"
            for _ in range(args.rounds):
                for mode, fn in modes.items():
                    times[mode].append(timed(lambda fn=fn: fn(argv)))
            bare = statistics.median(times["bare"])
            for mode in modes:
                med = statistics.median(times[mode])
                table.add_row(label, mode, f"{med * 1000:.1f}", f"{med / bare:.2f}x", levels[mode])
    Console().print(table)


if __name__ == "__main__":
    main()
