"""Autofix never breaks code (issue 11, item 6), checked over every rule fixture.

For each safe fix a rule offers on a fixture (all rules selected): applying that one fix gives a file
that parses, in which the fixed finding is gone and no rule reports anything it did not report before.
Applying every safe fix at once (`fix_source`) keeps the same properties. Fixtures whose first line is
`# pp: runnable` are executed on the CPU before and after fixing, in one child process: their output
must be identical.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from pytorch_patterns.skill.review import fix_source, review_source
from pytorch_patterns.skill.review.fixes import apply_fixes

FIXTURES = Path(__file__).with_name("fixtures")
RUNNABLE_MARK = "# pp: runnable"


def _cases() -> list[Path]:
    return sorted(FIXTURES.glob("PT-*/*.py"))


@functools.lru_cache(maxsize=None)
def _review(source: str, name: str):
    return tuple(review_source(source, name, select=["ALL"]))


def _safe(findings):
    return [f for f in findings if f.fix is not None and f.fix.applicability == "safe"]


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_safe_fix_parses_resolves_and_adds_nothing(case: Path) -> None:
    source = case.read_text()
    before = _review(source, str(case))
    safe = _safe(before)
    if not safe:
        return
    counts = Counter(f.rule for f in before)
    for finding in safe:
        fixed, applied = apply_fixes(source, [finding])
        assert applied == 1, finding
        ast.parse(fixed, filename=str(case))  # a fix never breaks the syntax
        after = Counter(f.rule for f in _review(fixed, str(case)))
        new = after - counts
        assert not new, f"{finding.rule} fix at line {finding.line} adds findings {dict(new)}:\n{fixed}"
        assert after[finding.rule] < counts[finding.rule], f"{finding.rule} fix at line {finding.line} does not resolve it"


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_all_safe_fixes_together(case: Path) -> None:
    source = case.read_text()
    before = _review(source, str(case))
    if not _safe(before):
        return
    fixed, applied, remaining = fix_source(source, str(case), select=["ALL"])
    assert applied >= 1
    ast.parse(fixed, filename=str(case))
    assert not _safe(remaining), "a second pass still finds safe fixes"
    new = Counter(f.rule for f in remaining) - Counter(f.rule for f in before)
    assert not new, f"fixing adds {dict(new)}"


RUNNER = textwrap.dedent(
    """
    import contextlib, io, json, sys, warnings
    import torch
    torch.set_num_threads(1)
    out = {}
    for key, src in json.load(open(sys.argv[1])).items():
        buf = io.StringIO()
        torch.manual_seed(0)
        with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
            warnings.simplefilter("ignore")
            try:
                exec(compile(src, key, "exec"), {"__name__": "__main__"})
            except Exception as exc:  # the same failure before and after is also "the same behaviour"
                print("raised", type(exc).__name__)
        out[key] = buf.getvalue()
    json.dump(out, open(sys.argv[2], "w"))
    """
)


def test_runnable_fixtures_behave_the_same_after_fixing(tmp_path: Path) -> None:
    runnable = [c for c in _cases() if c.read_text().startswith(RUNNABLE_MARK)]
    assert len(runnable) >= 3, "expected runnable fixtures for the fixable rules"
    sources = {}
    for case in runnable:
        source = case.read_text()
        fixed, applied, _ = fix_source(source, str(case), select=["ALL"])
        assert applied >= 1, f"{case}: a runnable fixture should exercise a safe fix"
        sources[f"{case.parent.name}/{case.name}:before"] = source
        sources[f"{case.parent.name}/{case.name}:after"] = fixed
    blocks, results, runner = tmp_path / "in.json", tmp_path / "out.json", tmp_path / "runner.py"
    blocks.write_text(json.dumps(sources))
    runner.write_text(RUNNER)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(runner), str(blocks), str(results)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(results.read_text())
    for case in runnable:
        key = f"{case.parent.name}/{case.name}"
        assert out[f"{key}:before"], f"{key} printed nothing"
        assert "raised" not in out[f"{key}:before"], out[f"{key}:before"]
        assert out[f"{key}:before"] == out[f"{key}:after"], key
