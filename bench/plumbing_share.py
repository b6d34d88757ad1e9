"""How much of each reference program's training function is runner plumbing, at a git revision and now.

Counted with `ast` over the function(s) that train: `train()` and, for DDP programs, the per-rank function it
runs (`run_rank`, `train_rank`, `_rank_entry`). A source line counts if it holds code (blank lines, comments and the
docstring are left out; a statement over several lines counts each line). A line is *plumbing* when it
mentions one of the names below: the runner's hooks and result, seeding, device/precision resolution, timing,
loss history, progress, checkpoint save/load, resume bookkeeping, the run context (`run.`), and the DDP
launcher's queue/process handling. Everything else (data, model, optimizer, loop, loss, backward) is the
program.

    .venv/bin/python bench/plumbing_share.py [--rev HEAD~1]      # prints both, and the ratio after/before
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPLS = "reference_impls/impls"
TRAIN_FUNCS = ("train", "run_rank", "train_rank", "_rank_entry")
PLUMBING_NAMES = {
    # runner hooks and results
    "hooks", "TrainHooks", "TrainResult", "on_log", "log_every", "paused", "result", "result_json",
    # seeding, device and precision resolution
    "seed_everything", "pick_device", "resolve_amp", "AMP_DTYPES",
    # timing and loss history
    "clock", "TrainClock", "Timer", "eval_timer", "loss_history", "losses_to_floats",
    # checkpoints and resume bookkeeping
    "ckpt", "load_checkpoint", "save_checkpoint", "checkpoint_path", "start_step", "end_step", "stop_at",
    "restore_rng_state", "capture_rng_state", "rng_per_rank",
    # DDP launcher plumbing
    "log_queue", "hooks_state", "mp_context", "start_processes", "set_forkserver_preload", "get_nowait",
    "message", "done", "context", "init_file",
    # the run context of the new API
    "run",
}


def code_lines(source: str, func: ast.FunctionDef) -> dict[int, str]:
    """Line number -> text for the lines of `func`'s body that hold code (no docstring, comments, blanks)."""
    lines = source.splitlines()
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # docstring
    if not body:
        return {}
    first, last = body[0].lineno, max(node.end_lineno or node.lineno for node in body)
    comment_only = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and lines[tok.start[0] - 1].strip().startswith("#"):
            comment_only.add(tok.start[0])
    return {n: lines[n - 1] for n in range(first, last + 1)
            if lines[n - 1].strip() and n not in comment_only}


def plumbing_lines(func: ast.FunctionDef, numbered: dict[int, str]) -> set[int]:
    hits: set[int] = set()
    for node in ast.walk(func):
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, (ast.arg, ast.keyword)):
            name = node.arg
        if name in PLUMBING_NAMES:
            for n in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                if n in numbered:
                    hits.add(n)
    return hits


def measure(source: str) -> tuple[int, int]:
    tree = ast.parse(source)
    total = plumbing = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in TRAIN_FUNCS:
            numbered = code_lines(source, node)
            total += len(numbered)
            plumbing += len(plumbing_lines(node, numbered))
    return plumbing, total


def sources_at(rev: str | None) -> dict[str, str]:
    if rev is None:
        return {p.stem: p.read_text() for p in sorted((REPO / IMPLS).glob("*.py")) if p.stem != "__init__"}
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{IMPLS}"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    return {Path(n).stem: subprocess.run(["git", "show", f"{rev}:{IMPLS}/{n}"], cwd=REPO, check=True,
                                         capture_output=True, text=True).stdout
            for n in names if n.endswith(".py") and n != "__init__.py"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="68d0783", help="the 'before' revision (default: before the refactor)")
    args = parser.parse_args()
    before, after = sources_at(args.rev), sources_at(None)
    print(f"{'program':<18} {'before':>16} {'now':>16}")
    sums = [0, 0, 0, 0]
    for name in sorted(set(before) | set(after)):
        row = []
        for i, src in enumerate((before.get(name), after.get(name))):
            if src is None:
                row.append(f"{'-':>16}")
                continue
            p, t = measure(src)
            sums[2 * i] += p
            sums[2 * i + 1] += t
            row.append(f"{p:>3}/{t:<3} = {p / t if t else 0:>5.0%}")
        print(f"{name:<18} {row[0]:>16} {row[1]:>16}")
    bp, bt, ap, at = sums
    print(f"{'all':<18} {bp:>3}/{bt:<3} = {bp / bt:>5.0%} {ap:>3}/{at:<3} = {ap / at:>5.0%}")
    print(f"plumbing lines now / before: {ap / bp:.2f}x; training-function lines now / before: {at / bt:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
