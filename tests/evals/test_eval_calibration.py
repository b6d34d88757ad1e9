"""The CI gate for the bundled suite: every task proves itself (oracle 1.0, empty 0, each mutant fails
exactly the checks it is written to fail). One test per task, so `pytest -n 2` spreads them."""

from __future__ import annotations

from collections import Counter

import pytest

from pytorch_patterns.evals.harness import BUILTIN_TASKS, calibrate_task
from pytorch_patterns.evals.schema import load_tasks
from pytorch_patterns.skill.review.rule import FAMILIES

TASKS = load_tasks(BUILTIN_TASKS)


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_task_calibrates(task):
    cal = calibrate_task(task)
    assert cal.ok, "\n".join(cal.problems)
    assert cal.oracle_score == 1.0 and cal.empty_score == 0.0


def test_suite_covers_every_family_and_kind():
    families = {f for t in TASKS for f in t.families}
    assert families == set(FAMILIES.values())
    kinds = Counter(t.kind for t in TASKS)
    assert len(TASKS) >= 40
    assert kinds["review"] >= 15 and kinds["fix"] >= 6 and kinds["generate"] >= 5 and kinds["implement"] >= 5, kinds


def test_every_task_has_mutants():
    assert all(t.mutants for t in TASKS), [t.id for t in TASKS if not t.mutants]


def test_review_labels_use_catalogue_codes_and_exist_in_the_input():
    from pytorch_patterns.skill.review import get_rule

    for t in TASKS:
        if t.kind != "review":
            continue
        for e in t.expected:
            assert get_rule(e.rule) is not None, (t.id, e.rule)
            lines = (t.inputs_dir / e.file).read_text(encoding="utf-8").splitlines()
            assert 1 <= e.line <= len(lines) and lines[e.line - 1].strip(), (t.id, e)


def test_every_check_in_use_is_proven_by_a_mutant():
    """Each check some task uses is failed by at least one mutant (calibration then shows it fails exactly those)."""
    used = {c.name for t in TASKS for c in t.checks}
    proven = {name for t in TASKS for m in t.mutants for name in (m.fails, *m.also_fails)}
    assert not used - proven, f"checks no mutant fails: {sorted(used - proven)}"


def test_the_work_judging_checks_are_in_the_suite():
    by_check: dict[str, set[str]] = {}
    for t in TASKS:
        for c in t.checks:
            by_check.setdefault(c.name, set()).add(t.kind)
    for name, kind in [("same_as_reference", "fix"), ("device_honoured", "fix"), ("learns", "fix"),
                       ("learns", "generate"), ("accumulation", "generate"), ("disjoint_validation", "generate"),
                       ("disjoint_validation", "fix"), ("independent", "implement")]:
        assert kind in by_check.get(name, set()), (name, kind)
    fix_tasks = [t for t in TASKS if t.kind == "fix"]
    assert all({"same_as_reference", "learns", "device_honoured"} <= {c.name for c in t.checks} for t in fix_tasks)
    for t in TASKS:
        if t.kind == "implement":
            names = [c.name for c in t.checks]
            assert names.index("independent") < names.index("matches_reference") and t.checks[names.index("independent")].gate
            speed = next(c for c in t.checks if c.name == "faster_than_reference")
            assert speed.params["min_speedup"] >= 1.1, t.id  # the candidate must beat the reference
