"""Reviewer speed on a large real corpus, as ratios measured in the same run.

Corpora: the Python sources of the installed torch package (torch/nn, torch/optim, torch/utils,
torch/distributed), and a large real repository, huggingface/diffusers `examples/` at a pinned commit
(extracted from the `fetch` mirror in /work/.mirror or $PP_REAL_CORPUS_MIRROR; skipped with a note when
absent). For each corpus it prints:
  * whole review as ONE project in one process (`review_paths(jobs=1)`: discovery, reading, the project
    index, cross-file summaries, every default rule) / reading + bare `ast.parse` of the same files (goal <= 3x),
  * per-file `review_source` (no project) / `ast.parse`,
  * the same with directories on all cores (the CLI's default),
  * TorchFix (`torchfix --select ALL`) on a subset / our reviewer on the same subset (goal >= 25x),
    when the `torchfix` command is installed (`pip install torchfix`).
Parse and review alternate within each round (best of N each), so drifting machine load hits both alike.
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

from pytorch_patterns.skill.review import review_paths, review_source  # noqa: E402
from pytorch_patterns.skill.review.engine import SourceParseError  # noqa: E402


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


def best_of_interleaved(n: int, *fns) -> list[float]:
    """Best time of each function over `n` rounds, the functions alternating within a round: on a shared
    machine whose load drifts over minutes, a ratio of two measurements taken side by side stays honest."""
    best = [float("inf")] * len(fns)
    for _ in range(n):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


DIFFUSERS = ("huggingface+diffusers", "58eb52c080", "examples")


def diffusers_examples() -> Path | None:
    """diffusers/examples at the pinned commit, extracted once from the local mirror; None if no mirror."""
    slug, commit, sub = DIFFUSERS
    mirror = Path(os.environ.get("PP_REAL_CORPUS_MIRROR", "/work/.mirror")) / slug / "repo"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytorch-patterns" / f"diffusers-{commit}"
    if (cache / sub).is_dir():
        return cache / sub
    if not mirror.exists():
        return None
    cache.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", str(mirror), "archive", commit, sub], capture_output=True)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(cache)], input=archive.stdout, check=True)
    return cache / sub


def project_ratio(console: Console, label: str, dirs: list[Path], repeat: int) -> float:
    """Whole review of `dirs` as one project in one process / reading + parsing the same files."""
    from pytorch_patterns.skill.review.config import ReviewConfig

    files = sorted(p for d in dirs for p in d.rglob("*.py"))
    n_lines = sum(p.read_bytes().count(b"\n") for p in files)

    def parse_all():
        for p in files:
            try:
                ast.parse(p.read_bytes(), str(p))
            except (SyntaxError, ValueError):
                pass

    report = None

    def review():
        nonlocal report
        report = review_paths([str(d) for d in dirs], config=ReviewConfig(), jobs=1)

    t_parse, t_review = best_of_interleaved(repeat, parse_all, review)
    ratio = t_review / t_parse
    verdict = "OK" if ratio <= 3 else "OVER GOAL"
    console.print(
        f"{label}: {len(files)} files, {n_lines:,} lines; parse {t_parse:.2f}s, project review {t_review:.2f}s, "
        f"{len(report.findings)} findings -> {ratio:.2f}x (goal <= 3x): {verdict}"
    )
    return ratio


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
    project_ratio(console, "torch nn/optim/utils/distributed as one project", dirs, args.repeat)
    ex = diffusers_examples()
    if ex is None:
        console.print("[yellow]diffusers mirror absent (fetch github:huggingface/diffusers): real-repository corpus skipped[/]")
    else:
        project_ratio(console, f"diffusers {DIFFUSERS[1]} examples/ as one project", [ex], args.repeat)

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

    t_parse, t_review = best_of_interleaved(args.repeat, parse_all, review_all)
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
