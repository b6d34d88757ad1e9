"""Reviewer speed on a large real corpus, as ratios measured in the same run.

Corpus: the Python sources of the installed torch package (torch/nn, torch/optim, torch/utils,
torch/distributed). Prints:
  * review time / bare `ast.parse` time of the same files (one process each; goal <= 3x),
  * the same with directories on all cores (the CLI's default),
  * TorchFix (`torchfix --select ALL`) on a subset / our reviewer on the same subset (goal >= 25x),
    when the `torchfix` command is installed (`pip install torchfix`).
Run: .venv/bin/python bench/review_speed.py [--subset DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skill.review import review_paths, review_source  # noqa: E402
from skill.review.engine import SourceParseError  # noqa: E402


def torch_root() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        sys.exit("torch is not installed: the corpus is torch's own sources")
    return Path(spec.origin).parent


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--subset", default="optim", help="torch subpackage for the TorchFix comparison")
    args = ap.parse_args()
    console = Console()
    root = torch_root()
    dirs = [root / d for d in ("nn", "optim", "utils", "distributed")]
    files = sorted(p for d in dirs for p in d.rglob("*.py"))
    sources = [(str(p), p.read_bytes()) for p in files]
    n_lines = sum(s.count(b"\n") for _, s in sources)
    console.print(f"corpus: {len(files)} files, {n_lines:,} lines from {root}")

    def parse_all():
        for name, data in sources:
            try:
                ast.parse(data, name)
            except SyntaxError:
                pass

    def review_all():
        for name, data in sources:
            try:
                review_source(data, name)
            except SourceParseError:
                pass

    t_parse = best_of(args.repeat, parse_all)
    t_review = best_of(args.repeat, review_all)
    t_parallel = best_of(args.repeat, lambda: review_paths([str(d) for d in dirs]))
    n_findings = len(review_paths([str(d) for d in dirs]).findings)

    table = Table(title="reviewer speed (best of %d)" % args.repeat)
    for c in ("measure", "seconds", "lines/s", "ratio to ast.parse"):
        table.add_column(c, justify="right")
    table.add_row("ast.parse, 1 process", f"{t_parse:.2f}", f"{n_lines / t_parse:,.0f}", "1.00x")
    table.add_row("review_source, 1 process", f"{t_review:.2f}", f"{n_lines / t_review:,.0f}", f"{t_review / t_parse:.2f}x")
    table.add_row(f"review_paths, {os.cpu_count()} cores", f"{t_parallel:.2f}", f"{n_lines / t_parallel:,.0f}", f"{t_parallel / t_parse:.2f}x")
    console.print(table)
    console.print(f"findings on torch's own sources: {n_findings}")
    verdict = "OK" if t_review / t_parse <= 3 else "OVER GOAL"
    console.print(f"single-process review / parse = {t_review / t_parse:.2f}x (goal <= 3x): {verdict}")

    torchfix = shutil.which("torchfix") or (str(Path(sys.executable).with_name("torchfix")) if Path(sys.executable).with_name("torchfix").exists() else None)
    subset = root / args.subset
    sub_files = sorted(subset.rglob("*.py"))
    sub_lines = sum(p.read_bytes().count(b"\n") for p in sub_files)
    if torchfix is None:
        console.print("[yellow]torchfix not installed: `pip install torchfix` to measure the comparison[/]")
        return
    t0 = time.perf_counter()
    subprocess.run([torchfix, "--select", "ALL", str(subset)], capture_output=True, text=True)
    t_tf = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytorch_patterns", "review", "--quiet", str(subset)], capture_output=True, text=True)
    t_ours_cli = time.perf_counter() - t0
    t_ours = best_of(args.repeat, lambda: [review_source(p.read_bytes(), str(p)) for p in sub_files])
    console.print(
        f"TorchFix on torch/{args.subset} ({len(sub_files)} files, {sub_lines:,} lines): {t_tf:.2f}s "
        f"({sub_lines / t_tf:,.0f} lines/s)"
    )
    console.print(f"pytorch-patterns CLI on the same files (process start included): {t_ours_cli:.2f}s -> {t_tf / t_ours_cli:.1f}x faster")
    console.print(f"pytorch-patterns in-process on the same files: {t_ours:.3f}s -> {t_tf / t_ours:.1f}x faster (goal >= 25x)")


if __name__ == "__main__":
    main()
