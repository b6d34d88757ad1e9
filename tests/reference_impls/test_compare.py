"""KernelBench-style compare: correctness over seeded trials, refusals for input mutation and cached outputs,
timing and speed-up. The child-side logic runs in-process here; one test goes through the sandboxed child."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytorch_patterns.cli import main as cli_main
from reference_impls.compare import (CompareOptions, compare, list_kernel_references, resolve_reference,
                                     run_compare)

SOFTMAX = resolve_reference("softmax_rows")


def _candidate(tmp_path, body: str):
    path = tmp_path / "candidate.py"
    path.write_text("import torch\nfrom torch import nn\n\n" + textwrap.dedent(body))
    return path


def _run(reference, candidate, **opts):
    options = CompareOptions(device="cpu", trials=5, warmup=1, iters=3, **opts)
    return run_compare({"reference": str(reference), "candidate": str(candidate), "options": options.model_dump()})


def test_shipped_references_follow_the_convention():
    names = {p.stem for p in list_kernel_references()}
    assert {"softmax_rows", "causal_attention", "conv_bn_relu", "linear_gelu", "layernorm_residual"} <= names


@pytest.mark.parametrize("name", ["softmax_rows", "causal_attention", "conv_bn_relu"])
def test_shipped_candidates_are_correct_and_timed(name):
    from reference_impls.compare import KERNELS_DIR

    report = _run(resolve_reference(name), KERNELS_DIR / "candidates" / f"{name}.py")
    assert report["correct"], report["problems"]
    assert report["trials_passed"] == 5 and report["tolerance"] == 1e-4 and report["dtype"] == "float32"
    assert report["speedup"] > 0 and report["timer"] == "perf_counter"


def test_reference_against_itself_uses_model_when_there_is_no_modelnew():
    report = _run(resolve_reference("linear_gelu"), resolve_reference("linear_gelu"))
    assert report["correct"] and report["max_abs_diff"] == 0.0  # same weight seed -> identical weights


def test_wrong_result_is_reported_with_its_difference(tmp_path):
    cand = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def forward(self, x):
                return torch.softmax(x, dim=-1) + 1e-3
    """)
    report = _run(SOFTMAX, cand)
    assert not report["correct"] and "differs" in report["problems"][0] and report.get("speedup") is None


def test_input_mutation_is_refused(tmp_path):
    cand = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def forward(self, x):
                x.sub_(x.max(dim=-1, keepdim=True).values).exp_()  # in place on the caller's tensor
                return x / x.sum(dim=-1, keepdim=True)
    """)
    report = _run(SOFTMAX, cand)
    assert not report["correct"] and "modified its input" in report["problems"][0]
    assert report.get("speedup") is None


def test_cached_output_is_refused(tmp_path):
    cand = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def __init__(self):
                super().__init__()
                self.cache = None

            def forward(self, x):
                if self.cache is None:
                    self.cache = torch.softmax(x, dim=-1)
                return self.cache
    """)
    report = _run(SOFTMAX, cand)
    assert not report["correct"] and "cached" in report["problems"][0] and report["trials_passed"] == 1


def test_compare_runs_in_a_sandboxed_child_and_reports_broken_candidates(tmp_path):
    from reference_impls.compare import KERNELS_DIR

    good = compare(SOFTMAX, KERNELS_DIR / "candidates" / "softmax_rows.py",
                   CompareOptions(device="cpu", warmup=1, iters=3, threads=1))
    assert good.correct and good.speedup > 0 and good.killed_reason is None
    broken = _candidate(tmp_path, "class Nothing: pass\n")
    bad = compare(SOFTMAX, broken, CompareOptions(device="cpu", threads=1))
    assert not bad.correct and "neither ModelNew nor Model" in bad.error and "Traceback" in bad.output_tail


def test_cli_compare_json_and_missing_files(capsys, tmp_path):
    from reference_impls.compare import KERNELS_DIR

    rc = cli_main(["compare", "softmax_rows", str(KERNELS_DIR / "candidates" / "softmax_rows.py"), "--iters", "2",
                   "--warmup", "1", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["correct"] and report["speedup"] > 0
    assert cli_main(["compare", "no_such_reference", str(tmp_path / "c.py")]) == 2
