"""Held-out check of the eval harness: does it rank correct work above subtly wrong or fake work?

`tests/evals/heldout/<task>/<submission>/` holds submissions written independently of the tasks' oracle/ and
mutants/: correct ones in other styles, subtly wrong ones (one catalogue bug each) and fakes (print a
plausible loss curve, or train something unrelated). `tests/evals/heldout/manifest.yaml` says which is which.
Each submission is scored the way an agent's work is: a fresh workspace made from the task's inputs/, the
submission's files laid over it, then the harness's `score()`; all in parallel like `run_suite`.

Figures: correct ones at 1.0, wrong/fake ones below 1.0, pairwise ranking accuracy (per task, every correct
vs every wrong/fake pair, correct strictly above), and the highest score of any fake.
Exit code 1 if any correct-vs-wrong pair is misranked or any fake passes (entries marked `known_gap` are
reported but do not fail the run).

Run: .venv/bin/python bench/eval_heldout.py [--only TASK ...] [-j N] [--include-known-gaps]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pytorch_patterns.evals.checks import score  # noqa: E402
from pytorch_patterns.evals.harness import BUILTIN_TASKS  # noqa: E402
from pytorch_patterns.evals.schema import Task, TaskResult, load_task  # noqa: E402

HELDOUT_DIR = REPO_ROOT / "tests" / "evals" / "heldout"
MANIFEST = HELDOUT_DIR / "manifest.yaml"


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    name: str
    expected: Literal["correct", "wrong", "fake"]
    description: str = Field(min_length=1)
    known_gap: str | None = Field(default=None, description="A misranking the harness is known to make, and why.")

    @property
    def path(self) -> Path:
        return HELDOUT_DIR / self.task / self.name


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submissions: list[Submission] = Field(min_length=1)


class Scored(BaseModel):
    submission: Submission
    result: TaskResult

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.result.checks if c.passed is False]


def load_manifest(path: Path = MANIFEST) -> Manifest:
    try:
        manifest = Manifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise SystemExit(f"{path}: {exc}") from None
    seen: set[tuple[str, str]] = set()
    for sub in manifest.submissions:
        if (sub.task, sub.name) in seen:
            raise SystemExit(f"{path}: {sub.task}/{sub.name} listed twice")
        seen.add((sub.task, sub.name))
        if not sub.path.is_dir():
            raise SystemExit(f"{path}: {sub.task}/{sub.name} has no folder {sub.path}")
    return manifest


def score_submission(sub: Submission, task: Task | None = None) -> Scored:
    """Score like an agent's workspace: the task's inputs/, then the submission's files over them."""
    task = task or load_task(BUILTIN_TASKS / sub.task)
    with tempfile.TemporaryDirectory(prefix=f"pp-heldout-{sub.task}-") as tmp:
        workspace = Path(tmp) / "workspace"
        if task.inputs_dir.is_dir():
            shutil.copytree(task.inputs_dir, workspace)
        shutil.copytree(sub.path, workspace, dirs_exist_ok=True)
        result = score(task, workspace, agent=f"heldout:{sub.name}")
    return Scored(submission=sub, result=result)


def score_all(subs: list[Submission], jobs: int | None = None) -> list[Scored]:
    """Every submission in parallel on all cores (as `run_suite` does); results in manifest order."""
    tasks = {t: load_task(BUILTIN_TASKS / t) for t in sorted({s.task for s in subs})}
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda s: score_submission(s, tasks[s.task]), subs))


class Misranking(BaseModel):
    task: str
    correct: str
    correct_score: float
    other: str
    other_expected: str
    other_score: float


class Figures(BaseModel):
    correct_total: int
    correct_at_one: int
    bad_total: int
    bad_below_one: int
    pairs: int
    pairs_ranked: int
    max_fake_score: float | None
    misranked: list[Misranking]
    fakes_passing: list[str]

    @property
    def pairwise_accuracy(self) -> float:
        return self.pairs_ranked / self.pairs if self.pairs else 1.0

    @property
    def ok(self) -> bool:
        return not self.misranked and not self.fakes_passing


def figures(scored: list[Scored]) -> Figures:
    correct = [s for s in scored if s.submission.expected == "correct"]
    bad = [s for s in scored if s.submission.expected != "correct"]
    fakes = [s for s in bad if s.submission.expected == "fake"]
    pairs, ranked, misranked = 0, 0, []
    for c in correct:
        for b in bad:
            if b.submission.task != c.submission.task:
                continue
            pairs += 1
            if c.result.score > b.result.score:
                ranked += 1
            else:
                misranked.append(Misranking(task=c.submission.task, correct=c.submission.name, correct_score=c.result.score,
                                            other=b.submission.name, other_expected=b.submission.expected,
                                            other_score=b.result.score))
    return Figures(
        correct_total=len(correct), correct_at_one=sum(1 for s in correct if s.result.score == 1.0),
        bad_total=len(bad), bad_below_one=sum(1 for s in bad if s.result.score < 1.0),
        pairs=pairs, pairs_ranked=ranked, max_fake_score=max((s.result.score for s in fakes), default=None),
        misranked=misranked, fakes_passing=[f"{s.submission.task}/{s.submission.name}" for s in fakes if s.result.passed],
    )


def main() -> int:
    global HELDOUT_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="task ids or kinds")
    parser.add_argument("-j", "--jobs", type=int, default=None)
    parser.add_argument("--heldout", type=Path, default=HELDOUT_DIR,
                        help="a folder of held-out submissions with its manifest.yaml (default: tests/evals/heldout; "
                             "tests/evals/heldout2 is the blind second batch)")
    parser.add_argument("--include-known-gaps", action="store_true",
                        help="count entries marked known_gap in the pass/fail verdict too")
    args = parser.parse_args()

    console = Console(width=None if sys.stdout.isatty() else 180)
    HELDOUT_DIR = args.heldout.resolve()  # Submission.path reads this
    subs = load_manifest(HELDOUT_DIR / "manifest.yaml").submissions
    if args.only:
        wanted = set(args.only)
        subs = [s for s in subs if s.task in wanted or s.task.split("-", 1)[0] in wanted]
    with console.status(f"scoring {len(subs)} held-out submissions"):
        scored = score_all(subs, args.jobs)

    table = Table(title="held-out submissions")
    for col in ("task", "submission", "expected", "score", "failed checks", "note"):
        table.add_column(col, overflow="fold")
    for s in scored:
        sub, sc = s.submission, s.result.score
        good = (sc == 1.0) if sub.expected == "correct" else (sc < 1.0)
        style = "green" if good else ("yellow" if sub.known_gap else "bold red")
        table.add_row(sub.task, sub.name, sub.expected, f"[{style}]{sc:.3f}[/]", ", ".join(s.failed) or "-",
                      f"known gap: {sub.known_gap}" if sub.known_gap else "")
    console.print(table)

    def show(label: str, fig: Figures) -> None:
        console.print(f"[bold]{label}[/]")
        console.print(f"  correct scoring 1.0:      {fig.correct_at_one}/{fig.correct_total}")
        console.print(f"  wrong/fake scoring < 1.0: {fig.bad_below_one}/{fig.bad_total}")
        console.print(f"  pairwise ranking:         {fig.pairs_ranked}/{fig.pairs} = {fig.pairwise_accuracy:.3f}")
        mfs = "n/a" if fig.max_fake_score is None else f"{fig.max_fake_score:.3f}"
        console.print(f"  max score of any fake:    {mfs}  (passing fakes: {', '.join(fig.fakes_passing) or 'none'})")
        for m in fig.misranked:
            console.print(f"  [red]misranked[/] {m.task}: correct {m.correct} ({m.correct_score:.3f}) "
                          f"<= {m.other_expected} {m.other} ({m.other_score:.3f})")

    all_fig = figures(scored)
    show("all submissions", all_fig)
    gaps = [s for s in scored if s.submission.known_gap]
    verdict_fig = all_fig
    if gaps and not args.include_known_gaps:
        verdict_fig = figures([s for s in scored if not s.submission.known_gap])
        show(f"without the {len(gaps)} entries marked known_gap", verdict_fig)
    console.print("[green]harness ranks every held-out pair correctly[/]" if verdict_fig.ok
                  else "[bold red]harness misranks held-out submissions[/]")
    return 0 if verdict_fig.ok else 1


if __name__ == "__main__":
    sys.exit(main())
