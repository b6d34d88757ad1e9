"""The runner end to end: real worker processes, structured progress, verdicts, faults, warm workers, the CLI."""

from __future__ import annotations

import json
import threading

import pytest

from pytorch_patterns.cli import main as cli_main
from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.runner import RunCancelled, RunOptions, WarmPool, run_reference
from pytorch_patterns.reference_impls.sandbox import live_session_pids
from pytorch_patterns.reference_impls.worker import _amp_guard, pick_threads


@pytest.fixture(scope="module")
def pool():
    warm = WarmPool()
    yield warm
    warm.close()


def test_run_with_checks_reports_everything_and_progress(pool):
    seen = []
    report = run_reference("mlp_tabular", RunOptions(steps=20, threads=1, check_determinism=True, check_resume=True),
                           progress=lambda done, total, msg: seen.append((done, total, msg)), pool=pool)
    assert report.ok, report.error
    assert report.steps == 20 and len(report.losses) == 20
    assert report.determinism.passed and "bit-identical" in report.determinism.detail
    assert report.resume.passed and report.resume.checkpoint_step == 10
    assert report.device.type == "cpu" and report.device.capability and report.device.threads == 1
    assert report.torch_version and report.metric_name == "val_accuracy" and 0 <= report.eval_metric <= 1
    assert report.throughput > 0 and report.throughput_unit == "samples/s"
    assert report.peak_rss_mb > 50
    t = report.timings
    assert t.startup_s > 0 and t.train_s > 0 and t.total_s >= t.train_s and t.checks_s > 0 and t.compile_s == 0
    totals = {total for _, total, _ in seen}
    assert totals == {60.0}  # 3 runs of 20 steps
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and done[-1] == 60.0 and any("resume" in m for _, _, m in seen)


def test_warm_worker_skips_start_up_and_a_crash_comes_back_as_a_report(pool):
    pool.prepare(max_output_bytes=64_000)  # no-op when an earlier run already left a spare
    assert pool.wait_ready(timeout_s=120)
    crash = run_reference("mlp_tabular", RunOptions(device="cuda" if not _has_cuda() else "mps", steps=2),
                          pool=pool)
    assert crash.warm_start
    assert not crash.ok and "RuntimeError" in crash.error and "is_available" in crash.error
    assert "Traceback" in crash.output_tail and crash.returncode == 1

    assert pool.wait_ready(timeout_s=120)
    warm = run_reference("autoencoder", RunOptions(steps=5, threads=1), pool=pool)
    assert warm.ok and warm.warm_start  # served by the spare that had imported torch before the job arrived
    assert warm.timings.startup_s <= warm.timings.total_s


def test_timeout_kills_the_run_and_leaves_nothing_behind(pool):
    report = run_reference("char_lm", RunOptions(steps=100_000, threads=1, timeout_s=4), pool=pool)
    assert not report.ok and report.killed_reason == "timeout" and "timed out after 4 s" in report.error
    assert report.returncode is not None and report.returncode < 0


def test_cancel_raises_and_kills_the_group(pool):
    cancel = threading.Event()
    messages = []

    def progress(done, total, msg):
        messages.append(msg)
        cancel.set()  # cancel as soon as training has visibly started

    with pytest.raises(RunCancelled) as info:
        run_reference("mlp_tabular", RunOptions(steps=100_000, threads=1), progress=progress, cancel=cancel, pool=pool)
    assert messages and info.value.pid and live_session_pids(info.value.pid) == []


def test_bad_options_are_rejected_before_anything_starts():
    with pytest.raises(ValueError, match="does not support --amp bf16"):
        run_reference("ddp_cpu", RunOptions(amp="bf16"))
    with pytest.raises(ValueError, match="does not support --compile"):
        run_reference("seq_classify", RunOptions(compile=True))
    with pytest.raises(ValueError, match="unknown reference implementation"):
        run_reference("nope", RunOptions())


def test_bf16_on_a_cpu_without_native_bf16_is_refused_with_an_explanation():
    avx2 = {"type": "cpu", "capability": "AVX2", "native_bf16": False, "native_fp16": False}
    amp, warnings = _amp_guard("bf16", avx2, allow_slow=False)
    assert amp == "none" and "AVX2" in warnings[0] and "40-130x" in warnings[0] and "fp32 instead" in warnings[0]
    amp, warnings = _amp_guard("bf16", avx2, allow_slow=True)
    assert amp == "bf16" and "anyway" in warnings[0]
    amp, warnings = _amp_guard("bf16", {**avx2, "capability": "AVX512", "native_bf16": True}, allow_slow=False)
    assert amp == "bf16" and warnings == []
    assert _amp_guard("fp16", {"type": "cuda"}, allow_slow=False) == ("fp16", [])


def test_cpu_flag_parsing_detects_native_bf16():
    avx2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
    zen4 = "flags\t\t: avx2 avx512f avx512_bf16 avx512_vnni\n"
    assert not common.cpu_has_native_bf16(common.parse_cpu_flags(avx2))
    assert common.cpu_has_native_bf16(common.parse_cpu_flags(zen4))
    assert common.cpu_has_native_bf16(common.parse_cpu_flags("Features\t: fp asimd bf16\n"))


def test_thread_pick_respects_an_explicit_count():
    assert pick_threads(3, 2) == (3, None)
    threads, note = pick_threads(None, 2)
    assert threads in (1, 2) and (note is None) == (threads == 2)


def test_cli_list_and_json_run(capsys):
    assert cli_main(["run", "--list"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 10 and all(len(line.split()) > 2 for line in lines)
    assert cli_main(["run", "nope"]) == 2
    assert cli_main(["run", "finetune_frozen", "--steps", "4", "--threads", "1", "--check-resume", "--format",
                     "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["resume"]["passed"] and report["steps"] == 4 and not report["warm_start"]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
