"""Review scoring, pass@k / pass^k, the paired bootstrap comparison, and the report files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from evals.checks import score
from evals.harness import BUILTIN_TASKS
from evals.report import (
    compare_runs,
    export_evals_json,
    load_results,
    pass_at_k,
    pass_hat_k,
    summarize,
    write_reports,
)
from evals.schema import CheckResult, TaskResult, load_task, load_tasks

REVIEW = load_task(BUILTIN_TASKS / "review-binary-classifier")  # three planted findings


def review_score(tmp_path: Path, findings) -> dict[str, bool | None]:
    sub = tmp_path / "sub"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir()
    if findings is not None:
        (sub / "findings.json").write_text(findings if isinstance(findings, str) else json.dumps(findings))
    result = score(REVIEW, sub)
    return {c.name: c.passed for c in result.checks} | {"score": result.score, "detail": result.checks[0].detail}


def labels(shift: int = 0) -> list[dict]:
    return [{"rule": e.rule, "line": e.line + shift, "file": e.file} for e in REVIEW.expected]


def test_exact_labels_score_one(tmp_path):
    got = review_score(tmp_path, labels())
    assert got["review_recall"] and got["review_precision"] and got["score"] == 1.0


@pytest.mark.parametrize("shift", [-1, 1])
def test_one_line_off_is_tolerated(tmp_path, shift):
    assert REVIEW.line_tolerance == 1
    assert review_score(tmp_path, labels(shift))["score"] == 1.0


def test_two_lines_off_misses_and_false_alarms(tmp_path):
    got = review_score(tmp_path, labels(2))
    assert got["review_recall"] is False and got["review_precision"] is False
    assert "0/3 planted findings found, 3 false alarm(s)" in got["detail"]


def test_recall_and_precision_counts(tmp_path):
    two = labels()[:2]
    got = review_score(tmp_path, two)
    assert got["review_recall"] is False and got["review_precision"] is True and got["score"] == 0.5
    extra = labels() + [{"rule": "PT-DEV001", "line": 3, "file": "train.py"}]
    got = review_score(tmp_path, extra)
    assert got["review_recall"] is True and got["review_precision"] is False
    assert "3/3 planted findings found, 1 false alarm(s)" in got["detail"]


def test_a_finding_matches_one_label_only(tmp_path):
    first = labels()[0]
    got = review_score(tmp_path, [first, first])
    assert "1/3 planted findings found, 1 false alarm(s)" in got["detail"]


def test_opt_in_rules_are_neither_hits_nor_false_alarms(tmp_path):
    got = review_score(tmp_path, labels() + [{"rule": "PT-REP005", "line": 3, "file": "train.py"}])
    assert got["score"] == 1.0


def test_rule_codes_are_case_insensitive_and_file_defaults(tmp_path):
    lowered = [{"rule": e["rule"].lower(), "line": e["line"]} for e in labels()]
    assert review_score(tmp_path, lowered)["score"] == 1.0


@pytest.mark.parametrize("bad", ["{not json", json.dumps({"rule": "PT-GRAD002"}), json.dumps([{"line": 3}]), None])
def test_malformed_or_missing_findings_score_zero(tmp_path, bad):
    got = review_score(tmp_path, bad)
    assert got["score"] == 0.0
    assert ("malformed" in got["detail"]) or ("no findings.json" in got["detail"])


def test_pass_at_k_values():
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))  # 0.7
    assert pass_at_k(4, 1, 3) == pytest.approx(0.75)
    assert pass_at_k(3, 1, 3) == 1.0 and pass_at_k(2, 1, 5) == 1.0  # k > n clamps to n


def test_pass_hat_k_values():
    assert pass_hat_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_hat_k(5, 2, 2) == pytest.approx(0.1)
    assert pass_hat_k(5, 2, 3) == 0.0
    assert pass_hat_k(4, 4, 4) == 1.0 and pass_hat_k(0, 0, 1) == 0.0


def result(task: str, score: float, attempt: int = 0, kind: str = "fix") -> TaskResult:
    return TaskResult(task=task, kind=kind, families=["mode"], attempt=attempt, agent="a", score=score, passed=score == 1.0,
                      checks=[CheckResult(name="runs", passed=score > 0, weight=1.0, detail="<b>x</b>")])


def test_compare_runs_is_deterministic_with_a_seed():
    a = [result(f"t{i}", 0.5) for i in range(12)]
    b = [result(f"t{i}", 0.5 + (0.5 if i % 3 else -0.25)) for i in range(12)] + [result("only-b", 1.0)]
    first, again = compare_runs(a, b, n_boot=2000, seed=7), compare_runs(a, b, n_boot=2000, seed=7)
    assert first == again
    assert first["tasks"] == 12 and first["only_in_b"] == ["only-b"]
    assert first["delta"] == pytest.approx((8 * 0.5 - 4 * 0.25) / 12, abs=1e-4)
    lo, hi = first["ci95"]
    assert lo <= first["delta"] <= hi and lo < hi
    assert (first["b_better"], first["a_better"], first["ties"]) == (8, 4, 0)
    other = compare_runs(a, b, n_boot=2000, seed=8)
    assert other["delta"] == first["delta"]


def test_compare_runs_without_common_tasks_is_an_error():
    with pytest.raises(ValueError, match="no task in common"):
        compare_runs([result("x", 1.0)], [result("y", 1.0)])


def test_summary_and_report_files(tmp_path):
    results = [result("t1", 1.0, 0), result("t1", 0.0, 1), result("t2", 1.0, 0, "review"), result("t2", 1.0, 1, "review")]
    summary = summarize(results, attempts=2, agent="a")
    assert summary["tasks"]["t1"]["pass@1"] == 0.5 and summary["tasks"]["t1"]["pass@2"] == 1.0
    assert summary["tasks"]["t1"]["pass^2"] == 0.0 and summary["tasks"]["t2"]["pass^2"] == 1.0
    assert summary["overall"]["score"]["mean"] == 0.75
    assert set(summary["by_kind"]) == {"fix", "review"}
    paths = write_reports(tmp_path / "out", results, summary)
    assert [r.model_dump() for r in load_results(tmp_path / "out")] == [r.model_dump() for r in results]
    assert json.loads(paths["summary"].read_text())["attempts"] == 2
    assert "| t1 | fix |" in paths["markdown"].read_text()
    page = paths["html"].read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page  # details are escaped
    for external in ("<script src", "<link", "http://", "https://"):  # self-contained (the SVG namespace aside)
        assert external not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_export_evals_json_lists_every_task():
    tasks = load_tasks(BUILTIN_TASKS)
    data = export_evals_json(tasks)
    assert data["skill_name"] == "pytorch-patterns" and len(data["evals"]) == len(tasks)
    by_name = {e["name"]: e for e in data["evals"]}
    review = by_name["review-binary-classifier"]
    assert "evals/tasks/review-binary-classifier/inputs/train.py" in review["files"]
    assert any("PT-LOSS002" in x for x in review["expectations"])
    assert [e["id"] for e in data["evals"]] == list(range(1, len(tasks) + 1))
