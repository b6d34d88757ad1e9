"""The regression set for issue 13 (tests/evals/heldout3/): checks that judge the work, not its bookkeeping.

For each gap the issue lists (pass-to-pass behaviour of fixes, --device, learning on hidden data, gradient
accumulation, implement tasks calling or copying the reference, validation data, graded review scoring), wrong
submissions that must score below 1.0 and correct ones in unusual styles that must score 1.0. Every correct one
of a task must rank strictly above every wrong or fake one, and no fake may score above 0.5.

A cheap subset runs by default (one probe child per execution submission); PP_SLOW=1 runs every entry.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HELDOUT3 = Path(__file__).resolve().parent / "heldout3"

_spec = importlib.util.spec_from_file_location("eval_heldout3", REPO_ROOT / "bench" / "eval_heldout.py")
assert _spec is not None and _spec.loader is not None
eval_heldout = importlib.util.module_from_spec(_spec)
sys.modules["eval_heldout3"] = eval_heldout  # pydantic resolves the models' annotations through sys.modules
_spec.loader.exec_module(eval_heldout)
eval_heldout.HELDOUT_DIR = HELDOUT3  # Submission.path reads this module's global

MANIFEST = eval_heldout.load_manifest(HELDOUT3 / "manifest.yaml")
SLOW = os.environ.get("PP_SLOW", "") not in ("", "0")
FAKE_CEILING = 0.5

# task -> entries scored without PP_SLOW (None: all of them)
FAST: dict[str, list[str] | None] = {
    "review-seeding": None,
    "fix-detached-loss": ["log-a-float", "curve-plus-tiny-param-term"],
    "generate-grad-accumulation": ["retain-graph-twice", "manual-grad-buffer", "zero-grad-in-chunk-loop"],
}
TASKS = sorted({s.task for s in MANIFEST.submissions})
# Entries whose verdict is a timing (a correct rewrite that is not faster than the reference): scored by
# `bench/eval_heldout.py --heldout tests/evals/heldout3`, not asserted by a test (tests do not assert timings).
TIMED = {("implement-gelu-mlp", "tanh-formula-rewritten")}


def _entries(task: str) -> list:
    names = None if SLOW else FAST.get(task, [])
    return [s for s in MANIFEST.submissions
            if s.task == task and (names is None or s.name in names) and (s.task, s.name) not in TIMED]


def test_manifest_lists_every_folder_and_each_gap_has_both_sides():
    listed = {(s.task, s.name) for s in MANIFEST.submissions}
    on_disk = {(p.parent.name, p.name) for p in HELDOUT3.glob("*/*") if p.is_dir()}
    assert on_disk == listed, f"folders without a manifest entry: {on_disk - listed}"
    kinds = {s.task.split("-", 1)[0] for s in MANIFEST.submissions}
    assert kinds == {"review", "generate", "fix", "implement"}
    assert sum(s.expected == "correct" for s in MANIFEST.submissions) >= 10
    assert sum(s.expected != "correct" for s in MANIFEST.submissions) >= 20


@pytest.mark.parametrize("task", TASKS)
def test_heldout3_task(task):
    entries = _entries(task)
    if not entries:
        pytest.skip("scored with PP_SLOW=1")
    gaps = [s for s in entries if s.known_gap]
    entries = [s for s in entries if not s.known_gap]
    with ThreadPoolExecutor(max_workers=2) as pool:
        scored = list(pool.map(eval_heldout.score_submission, entries))
    report = {f"{s.submission.name} ({s.submission.expected})": (s.result.score, s.failed) for s in scored}
    for s in scored:
        if s.submission.expected == "correct":
            assert s.result.score == 1.0, f"correct {s.submission.name} penalised: {report}"
        else:
            assert s.result.score < 1.0, f"{s.submission.expected} {s.submission.name} passes: {report}"
        if s.submission.expected == "fake":
            assert s.result.score <= FAKE_CEILING, f"fake {s.submission.name} above {FAKE_CEILING}: {report}"
    fig = eval_heldout.figures(scored)
    assert not fig.misranked, f"misranked pairs {[(m.correct, m.other) for m in fig.misranked]}: {report}"
    if gaps:
        pytest.skip("known gaps not scored: " + "; ".join(f"{s.name}: {s.known_gap}" for s in gaps))
