"""Held-out check of the harness on a small subset (the full set runs in bench/eval_heldout.py).

Submissions in tests/evals/heldout/ were written independently of the tasks' oracle/ and mutants/. For each
task here, every correct submission must score 1.0 and strictly above every wrong or fake one of the same
task, and no fake may pass. Entries marked `known_gap` in the manifest are skipped with their reason.
"""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("eval_heldout", REPO_ROOT / "bench" / "eval_heldout.py")
assert _spec is not None and _spec.loader is not None
eval_heldout = importlib.util.module_from_spec(_spec)
sys.modules["eval_heldout"] = eval_heldout  # pydantic resolves the models' annotations through sys.modules
_spec.loader.exec_module(eval_heldout)

MANIFEST = eval_heldout.load_manifest()

# task -> submission names scored here (None: all of the task's entries). Cheap ones: review tasks cost
# nothing, one execution submission costs one probe child (~3-5 s), one implement one compare child.
SUBSET: dict[str, list[str] | None] = {
    "review-evaluate-function": None,
    "review-seeding": None,
    "fix-resume-optimizer-state": ["checkpoint-helpers", "optimizer-saved-not-loaded", "frozen-model-printed-curve"],
    "implement-cross-entropy": ["loss-module", "label-smoothing"],
    # The gaps this check found once, now closed: each must stay closed.
    "generate-grad-accumulation": ["chunked-batch", "zero-grad-per-micro-batch"],
    "generate-train-from-modules": ["step-function", "unrelated-regressor"],
    "generate-classifier-exact-resume": ["functional-dropout", "train-mode-once"],
    "fix-missing-zero-grad": None,
    "implement-log-softmax": ["logsumexp-shift", "no-max-shift"],
}


def _entries(task: str) -> list:
    names = SUBSET[task]
    return [s for s in MANIFEST.submissions if s.task == task and (names is None or s.name in names)]


def test_manifest_covers_every_kind_and_folder():
    kinds = {s.task.split("-", 1)[0] for s in MANIFEST.submissions}
    assert kinds == {"review", "generate", "fix", "implement"}
    listed = {(s.task, s.name) for s in MANIFEST.submissions}
    on_disk = {(p.parent.name, p.name) for p in eval_heldout.HELDOUT_DIR.glob("*/*") if p.is_dir()}
    assert on_disk == listed, f"folders without a manifest entry: {on_disk - listed}"
    for task in {s.task for s in MANIFEST.submissions}:
        expected = {s.expected for s in MANIFEST.submissions if s.task == task}
        assert "correct" in expected and "wrong" in expected, task
        if task.startswith(("generate-", "fix-")):
            assert "fake" in expected, f"{task} has no fake submission"


def test_subset_names_exist():
    for task, names in SUBSET.items():
        got = {s.name for s in _entries(task)}
        assert got and (names is None or got == set(names)), task


@pytest.mark.parametrize("task", sorted(SUBSET))
def test_harness_ranks_heldout_submissions(task):
    entries = _entries(task)
    gaps = [s for s in entries if s.known_gap]
    entries = [s for s in entries if not s.known_gap]
    with ThreadPoolExecutor(max_workers=2) as pool:
        scored = list(pool.map(eval_heldout.score_submission, entries))

    report = {f"{s.submission.name} ({s.submission.expected})": (s.result.score, s.failed) for s in scored}
    for s in scored:
        if s.submission.expected == "correct":
            assert s.result.score == 1.0, f"correct {s.submission.name} penalised: {report}"
        else:
            assert not s.result.passed, f"{s.submission.expected} {s.submission.name} passes: {report}"
    fig = eval_heldout.figures(scored)
    assert fig.pairs > 0
    assert not fig.misranked, f"misranked pairs {[(m.correct, m.other) for m in fig.misranked]}: {report}"
    if gaps:
        pytest.skip("known gaps not scored: " + "; ".join(f"{s.name}: {s.known_gap}" for s in gaps))
