"""The reviewer as an eval agent: it answers every bundled review task fully (a rule regression shows here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_reviewer_agent_passes_every_review_task(tmp_path: Path):
    out = tmp_path / "report"
    res = subprocess.run([sys.executable, "-m", "pytorch_patterns", "eval", "run", "--agent", "reviewer",
                          "--only", "review", "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) >= 20, len(rows)
    below = {r.get("task"): r.get("score") for r in rows if r.get("score") != 1.0}
    assert not below, below
