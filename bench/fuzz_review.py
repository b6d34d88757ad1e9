"""A longer fuzz run of the reviewer than CI's: generated PyTorch-like programs, arbitrary valid Python
(hypothesmith) and garbage bytes. Every input must give findings with sane positions or a clean
SourceParseError, and no rule may hit an internal error.

Run: .venv/bin/python bench/fuzz_review.py [--examples N]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import time
from pathlib import Path

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

spec = importlib.util.spec_from_file_location("robustness", ROOT / "tests" / "review" / "test_robustness.py")
robustness = importlib.util.module_from_spec(spec)
spec.loader.exec_module(robustness)  # type: ignore[union-attr]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=2000)
    n = ap.parse_args().examples
    stats = {"inputs": 0, "parsed": 0, "findings": 0}
    stderr = io.StringIO()

    def check(data) -> None:
        stats["inputs"] += 1
        with contextlib.redirect_stderr(stderr):
            found = robustness.review_or_error(data)
        if found is not None:
            stats["parsed"] += 1
            stats["findings"] += len(found)

    strategies = {
        "pytorch-like programs": robustness.programs(),
        "arbitrary valid Python": hypothesmith.from_node(),
        "garbage text/bytes": st.one_of(st.text(max_size=2000), st.binary(max_size=2000)),
    }
    t0 = time.perf_counter()
    for name, strategy in strategies.items():
        runner = settings(max_examples=n, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))(given(strategy)(check))
        runner()
        print(f"{name}: ok")
    internal = [ln for ln in stderr.getvalue().splitlines() if "internal error" in ln]
    print(f"{stats['inputs']} inputs ({stats['parsed']} parsed, {stats['findings']} findings) in {time.perf_counter() - t0:.0f}s; "
          f"internal rule errors: {len(internal)}")
    for line in internal[:20]:
        print("  " + line)
    sys.exit(1 if internal else 0)


if __name__ == "__main__":
    main()
