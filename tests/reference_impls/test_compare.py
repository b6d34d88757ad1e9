"""KernelBench-style compare: correctness over seeded trials, refusals for input mutation and cached outputs,
timing and speed-up. The child-side logic runs in-process here; one test goes through the sandboxed child."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytorch_patterns.cli import main as cli_main
from pytorch_patterns.reference_impls.compare import (CompareOptions, compare, list_kernel_references, resolve_reference,
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
    from pytorch_patterns.reference_impls.compare import KERNELS_DIR

    report = _run(resolve_reference(name), KERNELS_DIR / "candidates" / f"{name}.py")
    assert report["correct"], report["problems"]
    assert report["trials_passed"] == 5 and report["tolerance"] == 1e-4 and report["dtype"] == "float32"
    assert report["edge_cases"] >= 3 and report["edge_cases_passed"] == report["edge_cases"]
    assert report["speedup"] > 0 and report["timer"] in ("process-cpu-time", "perf_counter")


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


def test_output_cached_by_input_address_is_refused(tmp_path):
    # It keeps every input alive, so no trial gets an earlier trial's memory and the cache never hits during the
    # trials; it returns stale results when the same tensors are called again after their values changed.
    cand = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def __init__(self):
                super().__init__()
                self.cache = {}
                self.seen = []

            def forward(self, x):
                self.seen.append(x)
                key = (x.data_ptr(), tuple(x.shape), x.stride())
                if key not in self.cache:
                    self.cache[key] = torch.softmax(x, dim=-1)
                return self.cache[key]
    """)
    report = _run(SOFTMAX, cand)
    assert report["trials_passed"] == report["trials"]
    assert not report["correct"] and any("stale" in p for p in report["problems"]), report["problems"]


def _reference(tmp_path, body: str):
    path = tmp_path / "reference.py"
    path.write_text("import torch\nfrom torch import nn\n\n" + textwrap.dedent(body))
    return path


# Random logits of a few units never overflow exp(); the huge ones in the edge case do.
LOG_SOFTMAX_REFERENCE = """
    class Model(nn.Module):
        def forward(self, x):
            shifted = x - x.max(dim=1, keepdim=True).values
            return shifted - shifted.exp().sum(dim=1, keepdim=True).log()

    def get_inputs():
        return [3 * torch.randn(16, 32)]

    def get_init_inputs():
        return []

    def get_edge_inputs():
        return [("huge logits", [1000 * torch.randn(16, 32)]), [3 * torch.randn(1, 32)]]
"""


def test_an_edge_case_catches_a_candidate_that_random_inputs_miss(tmp_path):
    reference = _reference(tmp_path, LOG_SOFTMAX_REFERENCE)
    unshifted = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def forward(self, x):
                return x - x.exp().sum(dim=1, keepdim=True).log()  # no max shift
    """)
    report = _run(reference, unshifted)
    assert report["trials_passed"] == 5 and not report["correct"] and report.get("speedup") is None
    assert report["edge_cases"] == 2 and report["edge_cases_passed"] == 1  # the batch of one still matches
    [problem] = report["problems"]
    assert problem.startswith("edge case 0 (huge logits): output 0 ") and "where the reference is finite" in problem

    stable = tmp_path / "stable.py"
    stable.write_text("import torch\nfrom torch import nn\n\n\nclass ModelNew(nn.Module):\n"
                      "    def forward(self, x):\n        return torch.log_softmax(x, dim=1)\n")
    report = _run(reference, stable)
    assert report["correct"] and report["edge_cases_passed"] == 2 and report["speedup"] > 0


def test_non_finite_values_must_match_the_reference_pattern(tmp_path):
    # The reference itself gives -inf for 0 and NaN for negatives on its edge case: a candidate must agree.
    reference = _reference(tmp_path, """
        class Model(nn.Module):
            def forward(self, x):
                return torch.log(x)

        def get_inputs():
            return [torch.rand(64) + 0.5]

        def get_init_inputs():
            return []

        def get_edge_inputs():
            return [[torch.rand(64) + 0.5], ("zeros and negatives", [torch.tensor([0.0, -1.0, 2.0])])]
    """)
    same_pattern = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def forward(self, x):
                return x.log()
    """)
    assert _run(reference, same_pattern)["correct"]
    clamped = tmp_path / "clamped.py"
    clamped.write_text("import torch\nfrom torch import nn\n\n\nclass ModelNew(nn.Module):\n"
                       "    def forward(self, x):\n        return torch.log(x.clamp_min(1e-30))\n")
    report = _run(reference, clamped)
    assert not report["correct"] and report["edge_cases_passed"] == 1
    assert report["problems"] == [("edge case 1 (zeros and negatives): output 0 2 of the reference's 2 inf/NaN "
                                   "value(s) not reproduced")]


def test_edge_inputs_keep_their_strides_and_a_raising_candidate_fails_the_case(tmp_path):
    reference = _reference(tmp_path, """
        class Model(nn.Module):
            def forward(self, x):
                return x * 2

        def get_inputs():
            return [torch.randn(8, 4)]

        def get_init_inputs():
            return []

        def get_edge_inputs():
            return [("transposed view", [torch.randn(4, 8).t()])]
    """)
    flattening = _candidate(tmp_path, """
        class ModelNew(nn.Module):
            def forward(self, x):
                return (x.view(-1) * 2).view(x.shape)  # view() needs a contiguous input
    """)
    report = _run(reference, flattening)
    assert not report["correct"] and report["trials_passed"] == 5
    assert report["problems"][0].startswith("edge case 0 (transposed view): the candidate raised RuntimeError")


def test_a_malformed_edge_case_is_an_error(tmp_path):
    reference = _reference(tmp_path, LOG_SOFTMAX_REFERENCE.replace('[3 * torch.randn(1, 32)]]', '"oops"]'))
    with pytest.raises(TypeError, match="get_edge_inputs\\(\\) item 1 is a str"):
        _run(reference, reference)


def test_compare_runs_in_a_sandboxed_child_and_reports_broken_candidates(tmp_path):
    from pytorch_patterns.reference_impls.compare import KERNELS_DIR

    good = compare(SOFTMAX, KERNELS_DIR / "candidates" / "softmax_rows.py",
                   CompareOptions(device="cpu", warmup=1, iters=3, threads=1))
    assert good.correct and good.speedup > 0 and good.killed_reason is None
    assert good.edge_cases > 0 and good.edge_cases_passed == good.edge_cases  # the new fields cross the pipe
    # timed in CPU time read from /proc (load from other jobs does not inflate it), median of interleaved pairs
    assert good.timer == "process-cpu-time" and good.timing_note is None, good.timing_note
    assert good.timing_pairs >= 10 and good.speedup_spread[0] <= good.speedup <= good.speedup_spread[1]
    broken = _candidate(tmp_path, "class Nothing: pass\n")
    bad = compare(SOFTMAX, broken, CompareOptions(device="cpu", threads=1))
    assert not bad.correct and "neither ModelNew nor Model" in bad.error and "Traceback" in bad.output_tail


def test_cli_compare_json_and_missing_files(capsys, tmp_path):
    from pytorch_patterns.reference_impls.compare import KERNELS_DIR

    rc = cli_main(["compare", "softmax_rows", str(KERNELS_DIR / "candidates" / "softmax_rows.py"), "--iters", "2",
                   "--warmup", "1", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["correct"] and report["speedup"] > 0
    assert cli_main(["compare", "no_such_reference", str(tmp_path / "c.py")]) == 2


def test_work_hidden_in_short_lived_threads_is_timed_by_the_wall_clock(tmp_path):
    """A candidate whose timed work runs in threads that end before the parent can read them: their CPU time shows
    only in the process's totals, so the CPU-time verdict is not trusted and wall time decides."""
    hider = _candidate(tmp_path, """
        import threading


        class ModelNew(nn.Module):
            def forward(self, x):
                out = {}

                def work():
                    for _ in range(30):
                        out["y"] = torch.softmax(x, dim=-1)

                t = threading.Thread(target=work)
                t.start()
                t.join()
                return out["y"]
    """)
    report = compare(SOFTMAX, hider, CompareOptions(device="cpu", warmup=1, iters=3, threads=1))
    assert report.correct and report.timer == "perf_counter", (report.timer, report.timing_note)
    assert "changed while it was timed" in report.timing_note
