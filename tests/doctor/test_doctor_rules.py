"""The PT-RUN family in the shared rule catalogue: one doc per code the doctor emits, same names and
severities, never run by the static engine, and doc examples that are consistent (the good ones pass the
static reviewer, the bad ones parse)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from pytorch_patterns.reference_impls.doctor.checks import RULE_NAMES, SEVERITY
from pytorch_patterns.skill.review import all_rules, review_source
from pytorch_patterns.skill.review.catalogue import rule_doc_markdown

RUNTIME = [r for r in all_rules() if getattr(r, "runtime", False)]


def test_every_doctor_code_has_a_doc():
    assert {r.code: r.name for r in RUNTIME} == RULE_NAMES
    assert {r.code: r.severity for r in RUNTIME} == SEVERITY


@pytest.mark.parametrize("rule", RUNTIME, ids=lambda r: r.code)
def test_examples_are_consistent(rule):
    ast.parse(rule.bad)
    findings = review_source(rule.good, "good.py")
    assert findings == [], [(f.rule, f.line, f.message) for f in findings]
    doc = rule_doc_markdown(rule)
    assert "<!-- bad: unchecked -->" in doc and "pytorch-patterns doctor" in doc


def test_static_engine_never_reports_runtime_codes():
    source = "\n".join(r.bad for r in RUNTIME)
    for select in (None, ["ALL"], ["PT-RUN"], ["PT-RUN001"]):
        findings = review_source(source, "bad.py", select=select)
        assert not [f for f in findings if f.rule.startswith("PT-RUN")], select


def test_rules_cli_explains_a_runtime_code():
    proc = subprocess.run([sys.executable, "-m", "pytorch_patterns", "rules", "PT-RUN005"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "accumulation-misaligned" in proc.stdout and "(i + 1) % k" in proc.stdout
