"""Per-rule fixtures, TorchFix style: `fixtures/<CODE>/<case>.py` beside `<case>.txt`.

The .txt lists the expected findings of that rule, one `LINE CODE` per line (empty file: no finding).
Each fixture is reviewed with only its own rule selected, so a case tests exactly one rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skill.review import all_rules, review_source

FIXTURES = Path(__file__).with_name("fixtures")


def _static_rules() -> list:
    """The rules the static engine runs (the PT-RUN family is observed by `doctor` at run time; its doc examples
    are checked in tests/doctor/test_doctor_rules.py)."""
    return [r for r in all_rules() if not getattr(r, "runtime", False)]


def _cases() -> list[Path]:
    return sorted(FIXTURES.glob("PT-*/*.py"))


def _expected(py: Path) -> list[tuple[int, str]]:
    txt = py.with_suffix(".txt")
    assert txt.exists(), f"{py} has no expected-findings file {txt.name}"
    out = []
    for raw in txt.read_text().splitlines():
        raw = raw.split("#", 1)[0].strip()
        if raw:
            line, code = raw.split()
            out.append((int(line), code))
    return sorted(out)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(case: Path) -> None:
    code = case.parent.name
    findings = review_source(case.read_text(), str(case), select=[code])
    got = sorted((f.line, f.rule) for f in findings)
    assert got == _expected(case)


@pytest.mark.parametrize("rule", _static_rules(), ids=lambda r: r.code)
def test_every_rule_has_positive_and_negative_cases(rule) -> None:
    cases = sorted((FIXTURES / rule.code).glob("*.py"))
    positives = [c for c in cases if _expected(c)]
    negatives = [c for c in cases if not _expected(c)]
    assert positives, f"{rule.code} has no fixture that it flags"
    assert negatives, f"{rule.code} has no fixture of correct look-alike code"


@pytest.mark.parametrize("rule", _static_rules(), ids=lambda r: r.code)
def test_rule_doc_examples(rule) -> None:
    """The doc's bad example is flagged by the rule; its good example is not."""
    bad = review_source(rule.bad, "bad.py", select=[rule.code])
    good = review_source(rule.good, "good.py", select=[rule.code])
    assert [f.rule for f in bad] and all(f.rule == rule.code for f in bad), rule.bad
    assert good == [], rule.good
