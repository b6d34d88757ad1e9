from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
DRIVER = HERE / "drive.py"
SLOW = os.environ.get("PP_SLOW") == "1"


def run_driver(program: Path, workdir: Path, *extra: str, timeout: float = 600) -> dict:
    """Straight, repeated and stop-at-10-then-resumed runs of `program` in one child process."""
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(program), str(workdir), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
    )
    assert proc.returncode == 0, f"{program.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def check_run_result(name: str, result: dict) -> None:
    straight = result["straight"]
    assert [step for step, _ in straight] == list(range(1, 21)), f"{name}: logged steps {straight}"
    values = [loss for _, loss in straight]
    first, last = sum(values[:5]) / 5, sum(values[-5:]) / 5
    assert last < first, f"{name}: loss did not go down ({first:.4f} -> {last:.4f})"
    assert result["repeat"] == straight, f"{name}: same seed gave different losses"
    assert result["resumed"] == straight, f"{name}: stop at 10 + resume differs from a straight run"
    assert result["resumed_eval"] == result["straight_eval"], f"{name}: eval losses differ after resume"
    assert "metrics.jsonl" in result["straight_files"]


@pytest.fixture
def slow_enabled():
    if not SLOW:
        pytest.skip("set PP_SLOW=1 to run the full generated-program matrix")
