"""Per-rule fixtures, TorchFix style: `fixtures/<CODE>/<case>.py` beside `<case>.txt`.

The .txt lists the expected findings of that rule, one `LINE CODE` per line (empty file: no finding).
Each fixture is reviewed with only its own rule selected, so a case tests exactly one rule.

A case may also be a directory `fixtures/<CODE>/<case>/` of several files reviewed as ONE project (the
way `pytorch-patterns review DIR` does), with `expected.txt` listing `FILE LINE CODE` per finding (FILE
relative to the case directory; empty: no finding). These test the cross-file analysis.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_patterns.skill.review import all_rules, review_paths, review_source
from pytorch_patterns.skill.review.config import ReviewConfig

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


def _dir_cases() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("PT-*/*") if p.is_dir() and (p / "expected.txt").exists())


@pytest.mark.parametrize("case", _dir_cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_project_fixture(case: Path) -> None:
    code = case.parent.name
    report = review_paths([str(case)], select=[code], config=ReviewConfig(), jobs=1)
    assert not report.errors
    got = sorted((Path(f.file).relative_to(case).as_posix(), f.line, f.rule) for f in report.findings)
    expected = []
    for raw in (case / "expected.txt").read_text().splitlines():
        raw = raw.split("#", 1)[0].strip()
        if raw:
            file, line, rule = raw.split()
            expected.append((file, int(line), rule))
    assert got == sorted(expected)
    # each file alone is still reviewed without error (single-file analysis keeps working)
    for py in sorted(case.rglob("*.py")):
        review_source(py.read_text(), str(py), select=[code])


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
