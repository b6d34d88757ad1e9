"""The reviewer's accuracy on the labelled corpus (tests/corpus/), scored by bench/review_accuracy.py.

The corpus is written independently of the rule implementations: labels follow the rule catalogue's anchors.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

SCORER_PATH = Path(__file__).resolve().parents[2] / "bench" / "review_accuracy.py"
MIN_RECALL = 0.90
MIN_PRECISION = 0.95


def _load_scorer():
    spec = importlib.util.spec_from_file_location("review_accuracy", SCORER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through sys.modules
    spec.loader.exec_module(module)
    return module


scorer = _load_scorer()


@pytest.fixture(scope="module")
def score():
    return scorer.score_corpus()


def test_corpus_size_and_clean_share() -> None:
    scripts = scorer.corpus_files()
    clean = [s for s in scripts if not scorer.read_labels(s.with_suffix(".txt"))]
    assert len(scripts) >= 60, f"corpus has {len(scripts)} files"
    assert len(clean) >= 0.4 * len(scripts), f"only {len(clean)}/{len(scripts)} clean files"


def test_corpus_files_parse_and_are_realistic_size() -> None:
    for script in scorer.corpus_files():
        text = script.read_text(encoding="utf-8")
        ast.parse(text, filename=str(script))
        assert 40 <= len(text.splitlines()) <= 200, f"{script.name}: {len(text.splitlines())} lines"


def test_labels_parse_and_reject_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("12 PT-GRAD002  # zero_grad only before the loop\n\n# comment only\n3 PT-REP001\n")
    assert scorer.read_labels(good) == {(12, "PT-GRAD002"), (3, "PT-REP001")}
    bad = tmp_path / "bad.txt"
    bad.write_text("PT-GRAD002 12\n")
    with pytest.raises(scorer.LabelError, match="bad.txt:1"):
        scorer.read_labels(bad)


def test_scorer_rejects_missing_corpus_and_labels(tmp_path: Path) -> None:
    with pytest.raises(scorer.LabelError, match="does not exist"):
        scorer.corpus_files(tmp_path / "nope")
    (tmp_path / "orphan.py").write_text("import torch\n")
    with pytest.raises(scorer.LabelError, match="no labels file"):
        scorer.corpus_files(tmp_path)


def test_scorer_counts_misses_and_false_alarms(tmp_path: Path) -> None:
    # A script the catalogue flags for certain (set_to_none=False, require_grad typo), labelled with one
    # right label, one wrong line and one missing: the scorer must see 1 match, 1 miss, 1 false alarm.
    script = tmp_path / "tiny.py"
    script.write_text(
        "import torch\n"
        "def freeze(model, optimizer):\n"
        "    optimizer.zero_grad(set_to_none=False)\n"
        "    for p in model.parameters():\n"
        "        p.require_grad = False\n"
    )
    (tmp_path / "tiny.txt").write_text("3 PT-GRAD003\n4 PT-GRAD006  # wrong line on purpose\n")
    result = scorer.score_corpus(tmp_path)
    assert result.true_positives == 1
    assert [str(m) for m in result.misses] == ["tiny.py:4 PT-GRAD006"]
    assert [str(m) for m in result.false_alarms] == ["tiny.py:5 PT-GRAD006"]


def test_reviewer_accuracy_on_corpus(score) -> None:
    report = (
        f"recall {score.recall:.3f} (>= {MIN_RECALL}), precision {score.precision:.3f} (>= {MIN_PRECISION})\n"
        f"misses ({len(score.misses)}):\n{scorer.format_marks(score.misses)}\n"
        f"false alarms ({len(score.false_alarms)}):\n{scorer.format_marks(score.false_alarms)}"
    )
    print(report)
    assert score.recall >= MIN_RECALL and score.precision >= MIN_PRECISION, report


# --------------------------------------------------------------------------------------------------
# Blind batch 4 (tests/corpus/batch4/, see its README.md): 81 files written in five rounds, each round
# before the reviewer was run on it, in the held-out judge's style (half clean with traps, half with one
# bug each), scored like the judge at a one-line tolerance.
# --------------------------------------------------------------------------------------------------
BATCH4 = Path(__file__).resolve().parents[1] / "corpus" / "batch4"
BATCH4_MIN_RECALL = 0.95
BATCH4_MIN_PRECISION = 0.97


@pytest.fixture(scope="module")
def batch4_score():
    return scorer.score_corpus(BATCH4, tolerance=1)


def test_batch4_size_and_clean_share() -> None:
    scripts = scorer.corpus_files(BATCH4)
    labelled = [s for s in scripts if scorer.read_labels(s.with_suffix(".txt"))]
    assert len(scripts) >= 40, f"batch4 has {len(scripts)} files"
    assert len(labelled) >= 20 and len(scripts) - len(labelled) >= 20, f"{len(labelled)} buggy of {len(scripts)}"
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        ast.parse(text, filename=str(script))
        assert 40 <= len(text.splitlines()) <= 200, f"{script.name}: {len(text.splitlines())} lines"


def test_tolerance_matches_one_line_off_but_not_two(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text("import torch\n\n\ndef f(optimizer):\n    optimizer.zero_grad(set_to_none=False)\n")
    (tmp_path / "t.txt").write_text("4 PT-GRAD003\n")  # the finding is on line 5
    assert scorer.score_corpus(tmp_path, tolerance=1).true_positives == 1
    assert scorer.score_corpus(tmp_path, tolerance=0).true_positives == 0
    (tmp_path / "t.txt").write_text("3 PT-GRAD003\n")
    strict = scorer.score_corpus(tmp_path, tolerance=1)
    assert strict.true_positives == 0 and len(strict.misses) == 1 and len(strict.false_alarms) == 1


def test_reviewer_accuracy_on_blind_batch4(batch4_score) -> None:
    s = batch4_score
    report = (
        f"batch4 recall {s.recall:.3f} (>= {BATCH4_MIN_RECALL}), precision {s.precision:.3f} (>= {BATCH4_MIN_PRECISION})\n"
        f"misses ({len(s.misses)}):\n{scorer.format_marks(s.misses)}\n"
        f"false alarms ({len(s.false_alarms)}):\n{scorer.format_marks(s.false_alarms)}"
    )
    print(report)
    assert s.recall >= BATCH4_MIN_RECALL and s.precision >= BATCH4_MIN_PRECISION, report
