"""Every runnable script under tests/doctor/scripts/ and core_scripts/ through the doctor: exactly the codes of its
`# doctor-expect:` header, nothing on `clean` ones.

One child per script, one torch thread, the header's options (default 20 steps). By default a sample runs (one
script per check family that is cheap to observe, plus clean ones in different styles); PP_SLOW=1 runs them all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from suite import Case, cases, run_case  # noqa: E402

SLOW = os.environ.get("PP_SLOW") == "1"
SAMPLE = {
    "bug_001_eval_without_eval_call", "bug_003_double_step_helper", "bug_004_wrong_optimizer_zeroed",
    "bug_005_accum_first_window_short", "bug_007_head_replaced_after_optimizer", "bug_009_zero_eps_norm",
    "bug_013_train_loader_no_shuffle", "bug_017_cosine_tmax_epochs_per_batch",
    "clean_dcgan", "clean_accum_trainer", "ok_lightning_style_mini_trainer", "ok_func_per_sample_grads",
}
ALL = cases()


def _chosen() -> list[Case]:
    return ALL if SLOW else [c for c in ALL if c.path.stem in SAMPLE]


def test_suite_is_big_enough():
    bugs = [c for c in ALL if c.expect]
    clean = [c for c in ALL if not c.expect]
    assert len(bugs) >= 30 and len(clean) >= 15 or not SLOW, (len(bugs), len(clean))
    assert {c.path.stem for c in ALL} >= {s for s in SAMPLE if (Path(__file__).parent / "scripts" / f"{s}.py").exists()
                                           or (Path(__file__).parent / "core_scripts" / f"{s}.py").exists()}


def _params() -> list:
    # a `# doctor-known-miss:` script documents a bug the doctor does not catch yet: strict xfail, so a fix shows
    return [pytest.param(c, id=c.path.stem, marks=pytest.mark.xfail(strict=True, reason=c.known_miss))
            if c.known_miss else pytest.param(c, id=c.path.stem) for c in _chosen()]


@pytest.mark.parametrize("case", _params())
def test_script_gets_exactly_its_codes(case: Case):
    report = run_case(case)
    assert report.ok, f"{case.path.name}: {report.error}\n{report.output_tail}"
    got = {f.rule for f in report.findings}
    detail = "\n".join(f"  {f.rule} line {f.line} step {f.step}: {f.message}" for f in report.findings)
    assert got == case.expect, f"{case.path.name} ({case.bug or 'clean'}): got {sorted(got)}\n{detail}"
    for f in report.findings:  # anchored at the user's own code, not torch's
        assert Path(f.file).name == case.path.name or "site-packages" not in f.file, f


# Dogfood: the project's own reference programs pass the doctor. ddp_cpu starts its ranks itself
# (torch.multiprocessing), where the probe does not run: the doctor says so (no-step) instead of judging it.
IMPLS = sorted(p for p in (Path(__file__).parents[2] / "reference_impls" / "impls").glob("[a-z]*.py")
               if p.stem != "ddp_cpu")


@pytest.mark.skipif(not SLOW, reason="PP_SLOW=1 runs the project's reference programs through the doctor")
@pytest.mark.parametrize("path", IMPLS, ids=lambda p: p.stem)
def test_reference_impls_pass_the_doctor(path: Path):
    from pytorch_patterns.reference_impls.doctor import DoctorOptions, diagnose

    report = diagnose(path, [], DoctorOptions(steps=20, threads=1))
    assert report.ok, f"{path.name}: {report.error}\n{report.output_tail}"
    assert not report.findings, "\n".join(f"{f.rule} line {f.line}: {f.message}" for f in report.findings)
