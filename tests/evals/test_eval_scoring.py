"""Review scoring, pass@k / pass^k, the paired bootstrap comparison, and the report files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from pytorch_patterns.evals.checks import score
from pytorch_patterns.evals.harness import BUILTIN_TASKS
from pytorch_patterns.evals.report import (
    compare_runs,
    export_evals_json,
    load_results,
    pass_at_k,
    pass_hat_k,
    summarize,
    write_reports,
)
from pytorch_patterns.evals.schema import CheckResult, TaskResult, load_task, load_tasks

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
def test_one_line_off_is_partial_credit_not_a_miss(tmp_path, shift):
    """Found, but not on the anchor line: half the recall credit, no false alarm (precision stays 1)."""
    assert REVIEW.line_tolerance == 1
    got = review_score(tmp_path, labels(shift))
    assert got["review_recall"] is False and got["review_precision"] is True
    assert got["score"] == pytest.approx((0.5 + 1.0) / 2)
    assert "3/3 planted findings found (3 off the anchor line), 0 false alarm(s)" in got["detail"]
    missed = review_score(tmp_path, [])
    assert got["score"] > missed["score"] == 0.0  # one line off is distinguishable from a miss


def test_exact_beats_one_line_off_beats_two_lines_off(tmp_path):
    exact = review_score(tmp_path, labels())["score"]
    near = review_score(tmp_path, labels(1))["score"]
    far = review_score(tmp_path, labels(2))["score"]
    assert exact == 1.0 > near > far == 0.0


def test_two_lines_off_misses_and_false_alarms(tmp_path):
    got = review_score(tmp_path, labels(2))
    assert got["review_recall"] is False and got["review_precision"] is False
    assert "0/3 planted findings found (0 off the anchor line), 3 false alarm(s)" in got["detail"]


def test_recall_and_precision_are_graded(tmp_path):
    two = labels()[:2]
    got = review_score(tmp_path, two)
    assert got["review_recall"] is False and got["review_precision"] is True
    assert got["score"] == pytest.approx((2 / 3 + 1.0) / 2)
    extra = labels() + [{"rule": "PT-DEV001", "line": 3, "file": "train.py"}]
    got = review_score(tmp_path, extra)
    assert got["review_recall"] is True and got["review_precision"] is False
    assert got["score"] == pytest.approx((1.0 + 0.75) / 2)
    assert "3/3 planted findings found (0 off the anchor line), 1 false alarm(s)" in got["detail"]


def test_spraying_findings_scores_low(tmp_path):
    """Every rule on every line finds the planted ones too, but earns neither precision nor recall."""
    from pytorch_patterns.skill.review import all_rules

    n_lines = len((REVIEW.inputs_dir / "train.py").read_text().splitlines())
    spray = [{"rule": r.code, "line": line, "file": "train.py"} for r in all_rules() if r.default_enabled
             for line in range(1, n_lines + 1)]
    assert len(spray) > 400
    got = review_score(tmp_path, spray)
    honest_one_false_alarm = review_score(tmp_path, labels() + [{"rule": "PT-DEV001", "line": 3}])["score"]
    honest_one_missed = review_score(tmp_path, labels()[:2])["score"]
    assert got["score"] < 0.05 < honest_one_missed and got["score"] < honest_one_false_alarm


def test_half_false_alarms_keep_recall_more_lose_it(tmp_path):
    fa = [{"rule": "PT-DEV001", "line": n, "file": "train.py"} for n in (3, 4, 5, 6, 7, 8)]
    half = review_score(tmp_path, labels() + fa[:3])  # precision 1/2: recall credit kept
    third = review_score(tmp_path, labels() + fa)  # precision 1/3: recall credit scaled by 2/3
    assert half["score"] == pytest.approx((1.0 + 0.5) / 2)
    assert third["score"] == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_a_finding_matches_one_label_only(tmp_path):
    first = labels()[0]
    got = review_score(tmp_path, [first, first])
    assert "1/3 planted findings found (0 off the anchor line), 1 false alarm(s)" in got["detail"]


def test_an_exact_finding_is_not_taken_by_a_near_one(tmp_path):
    exp = labels()
    near_first = [{**exp[0], "line": exp[0]["line"] + 1}, exp[0], *exp[1:]]
    got = review_score(tmp_path, near_first)
    assert "3/3 planted findings found (0 off the anchor line), 1 false alarm(s)" in got["detail"]


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


# ---------------------------------------------------------------------- the work-judging checks on given traces
from pytorch_patterns.evals import checks as C  # noqa: E402
from pytorch_patterns.evals.checks import ProbeRun  # noqa: E402

FIX = load_task(BUILTIN_TASKS / "fix-inplace-residual")
ACCUM = load_task(BUILTIN_TASKS / "generate-grad-accumulation")


def traced(**trace) -> dict:
    full = {"losses": [1.0] * 4, "steps": 4, "backward_reached_params": 4, "exit_code": 0, **trace}
    return {"runs": {"full": ProbeRun(True, full, "", None)}}


def test_accumulation_needs_distinct_micro_batches_scaled_by_one_over_k(tmp_path):
    good = [{"backwards": 2, "scales": [0.5, 0.5], "inputs": 2, "distinct_inputs": 2}] * 3
    twice = [{"backwards": 2, "scales": [0.5, 0.5], "inputs": 1, "distinct_inputs": 1}] * 3
    undivided = [{"backwards": 2, "scales": [1.0, 1.0], "inputs": 2, "distinct_inputs": 2}] * 3
    unknown = [{"backwards": 2, "scales": [None, None], "inputs": 2, "distinct_inputs": 2}] * 3
    params = {"k": 2}
    assert C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=good), params)[0]
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=twice), params)
    assert not ok and "1 distinct micro-batch" in detail
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=undivided), params)
    assert not ok and "scaled by 1 (need 1/2)" in detail
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=unknown), params)
    assert ok and "not measured" in detail


def test_accumulation_judges_the_gradient_at_the_step_when_it_is_measured(tmp_path):
    def step(error, scale, scales=(1.0, 1.0), distinct=2):
        return {"backwards": 2, "scales": list(scales), "inputs": 2, "distinct_inputs": distinct,
                "grad_error": error, "grad_scale": scale, "grad_samples": 64.0, "grad_losses": 2}

    params = {"k": 2}
    # full-scale backward per micro-batch into buffers divided by k (manual p.grad +=): the bookkeeping scale is 1,
    # the gradient is right, so it passes
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=[step(1e-7, 1.0)] * 3), params)
    assert ok and "full-batch gradient" in detail
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=[step(1.0, 2.0, (0.5, 0.5))] * 3),
                                      params)
    assert not ok and "2x along it" in detail  # a loss the scale bookkeeping believed, twice the batch gradient
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=[step(0.68, 0.44)] * 3), params)
    assert not ok and "relative error 0.68" in detail  # zero_grad inside the window: only the last micro-batch
    ok, detail = C.check_accumulation(ACCUM, tmp_path, tmp_path, traced(accumulation=[step(1e-7, 1.0, distinct=1)] * 3),
                                      params)
    assert not ok and "1 distinct micro-batch" in detail  # the right gradient of one micro-batch counted twice


def test_disjoint_validation_wants_one_evaluation_on_unseen_samples(tmp_path):
    assert C.check_disjoint_validation(FIX, tmp_path, tmp_path, traced(eval_overlap=[[128, 0], [512, 512]]), {})[0]
    ok, detail = C.check_disjoint_validation(FIX, tmp_path, tmp_path, traced(eval_overlap=[[128, 128], [128, 3]]), {})
    assert not ok and "131/256 evaluated samples were trained on" in detail
    ok, detail = C.check_disjoint_validation(FIX, tmp_path, tmp_path, traced(eval_overlap=[]), {})
    assert ok and "see modes" in detail  # no evaluation at all is the modes check's finding


def test_loss_decreasing_with_still_weights_fails_and_caps_the_score(tmp_path):
    cache = traced(losses=[2.0, 1.5, 1.0, 0.5], weights_change=0.0)
    ok, detail = C.check_loss_decreases(FIX, tmp_path, tmp_path, cache, {})
    assert not ok and "weights moved 0" in detail and cache["untrained_cap"] == C.UNTRAINED_CAP
    cache = traced(losses=[2.0, 1.5, 1.0, 0.5], weights_change=0.2)
    assert C.check_loss_decreases(FIX, tmp_path, tmp_path, cache, {})[0] and "untrained_cap" not in cache


def test_trains_model_wants_the_given_model_to_move(tmp_path):
    params = {"model": "model.MLP"}
    still = traced(trained_modules=["model.MLP"], module_changes={"model.MLP": 0.0})
    assert not C.check_trains_model(FIX, tmp_path, tmp_path, still, params)[0]
    moved = traced(trained_modules=["model.MLP"], module_changes={"model.MLP": 0.1})
    assert C.check_trains_model(FIX, tmp_path, tmp_path, moved, params)[0]


def test_cross_entropy_in_the_harness():
    assert C._cross_entropy([[0.0, 0.0]], [1]) == pytest.approx(math.log(2))
    assert C._cross_entropy([[10.0, -10.0]], [0]) == pytest.approx(0.0, abs=1e-8)
    assert C._cross_entropy([[float("nan"), 0.0]], [0]) is None
    assert C._cross_entropy([[0.0, 0.0]], [2]) is None and C._cross_entropy([[0.0]], [0, 0]) is None


LAYERNORM = load_task(BUILTIN_TASKS / "implement-layernorm")


@pytest.mark.parametrize("source, verdict", [
    ("import torch.nn.functional as F\nfrom torch import nn\nclass ModelNew(nn.Module):\n"
     "    def __init__(self, d, eps=1e-5):\n        super().__init__()\n        self.ln = nn.LayerNorm(d, eps=eps)\n"
     "    def forward(self, x):\n        return self.ln(x)\n", True),
    ("from reference import Model\nclass ModelNew(Model):\n    pass\n", False),
    ("import reference as r\nModelNew = r.Model\n", False),
    ("import importlib\nModelNew = importlib.import_module('ref' + 'erence').Model\n", False),
    ("import runpy\nModelNew = runpy.run_path('reference.py')['Model']\n", False),
])
def test_independent_refuses_importing_or_calling_the_reference(tmp_path, source, verdict):
    (tmp_path / "model_new.py").write_text(source)
    assert C.check_independent(LAYERNORM, tmp_path, tmp_path, {}, {})[0] is verdict


def test_independent_refuses_a_renamed_copy_but_not_a_rewrite(tmp_path):
    ref = (LAYERNORM.root / "reference.py").read_text()
    renamed = ref.replace("class Model(", "class ModelNew(").replace("mean = ", "mu = ").replace("(x - mean)", "(x - mu)")
    (tmp_path / "model_new.py").write_text(renamed)
    ok, detail = C.check_independent(LAYERNORM, tmp_path, tmp_path, {}, {})
    assert not ok and "similarity" in detail
    (tmp_path / "model_new.py").write_text((LAYERNORM.oracle_dir / "model_new.py").read_text())
    assert C.check_independent(LAYERNORM, tmp_path, tmp_path, {}, {})[0]


def test_a_graded_check_scores_its_credit():
    cr = CheckResult(name="review_recall", passed=False, weight=2.0, credit=0.25)
    assert C._credit(cr) == 0.25 and C._credit(CheckResult(name="runs", passed=True, weight=1.0)) == 1.0


def test_review_prompts_promise_only_what_explain_rule_gives():
    """The review prompts say explain_rule shows where a finding is reported: it does, for every rule."""
    from pytorch_patterns.skill.review.catalogue import rule_anchor
    from pytorch_patterns.skill.review.rule import all_rules

    for rule in all_rules():
        if getattr(rule, "runtime", False):  # the doctor's PT-RUN rules: reported where the probe saw the call
            continue
        anchor = rule_anchor(rule)
        assert "In the bad example: line " in anchor, rule.code
    for task in load_tasks(BUILTIN_TASKS):
        if task.kind == "review":
            assert "also shows the\nline its bad example's finding is reported on" in task.prompt, task.id
        if task.kind == "fix":
            assert "pytorch-patterns reviewer" in task.prompt and "--device" in task.prompt, task.id


def test_independent_ignores_prose_that_mentions_the_reference(tmp_path):
    (tmp_path / "model_new.py").write_text(
        '"""Faster than the reference: fused."""\nimport torch.nn.functional as F\nfrom torch import nn\n'
        'class ModelNew(nn.Module):\n    """Same as the reference implementation, one kernel."""\n'
        '    def __init__(self, d, eps=1e-5):\n        super().__init__()\n        self.ln = nn.LayerNorm(d, eps=eps)\n'
        '    def forward(self, x):\n        return self.ln(x)\n')
    assert C.check_independent(LAYERNORM, tmp_path, tmp_path, {}, {})[0]
    (tmp_path / "model_new.py").write_text("import runpy as r\nModelNew = r.run_path('./reference.py')['Model']\n")
    assert not C.check_independent(LAYERNORM, tmp_path, tmp_path, {}, {})[0]
