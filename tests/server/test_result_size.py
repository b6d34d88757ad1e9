"""Results stay small enough for a context window (~10k tokens)."""

from __future__ import annotations

import json

from pytorch_patterns.reference_impls.runner import RunOptions, RunReport
from pytorch_patterns.server.app import MAX_CURVE_POINTS, _fit_report
from pytorch_patterns.server.schemas import MAX_RESULT_CHARS, paginate_findings
from pytorch_patterns.skill.review import review_source

MANY = "import torch\n" + "".join(f"opt{i}.zero_grad(set_to_none=False)\n" for i in range(3000))


def test_findings_are_paginated_under_the_budget():
    findings = review_source(MANY, "many.py")
    assert len(findings) == 3000
    seen, offset, pages = 0, 0, 0
    while offset is not None:
        page = paginate_findings(findings, offset, 200)
        assert len(page.model_dump_json()) <= MAX_RESULT_CHARS + 2000
        assert page.total == 3000 and page.by_rule == {"PT-GRAD003": 3000}
        seen += len(page.findings)
        offset, pages = page.next_offset, pages + 1
    assert seen == 3000 and pages >= 15


def test_long_loss_curves_are_thinned():
    report = RunReport(name="x", ok=True, options=RunOptions(), losses=[float(i) for i in range(100_000)], output_tail="y" * 100_000)
    small = _fit_report(report)
    assert len(small.losses) == MAX_CURVE_POINTS and small.losses[0] == 0.0 and small.losses[-1] == 99_999.0
    assert len(json.dumps(small.model_dump(mode="json"))) < 30_000
    assert _fit_report(RunReport(name="x", ok=True, options=RunOptions(), losses=[1.0, 2.0])).losses == [1.0, 2.0]
