"""One pass over every CUDA code path of the project, for a lent GPU machine (a few minutes, small models).

    python bench/gpu_check.py                 # on the GPU machine (--device cuda is the default)
    python bench/gpu_check.py --device cpu --quick   # the same script end to end on a CPU, to debug it

Checks, each in its own try/except with its own time limit (child processes supervised by the project's sandbox,
whose group is killed at the limit), so one failure never hides the others:

- compare: every kernel reference in reference_impls/kernels against its candidate (or itself when it has none):
  correctness and the speed ratio on the device; a caching candidate must be refused. Run first, alone, so the
  timings are not disturbed by the other checks.
- run: every reference implementation through the runner API (warm worker) with determinism and resume checks,
  plus the amp variants (bf16, fp16 + GradScaler), torch.compile once, DDP on NCCL with one rank.
- gen: generated train loops (fp32, bf16, fp16 + GradScaler, gradient accumulation, DataLoader workers with
  pin_memory, torch.compile once) driven by tests/generate/drive.py (straight, repeat, stop + resume), a DDP
  variant under torchrun (NCCL on CUDA), the generated dataset and checkpoint programs.
- sandbox: a CUDA child is not killed for its address space, and the resident-memory cap still kills.
- evals: the probe's environment hides the GPU (evals are CPU-only by design); recorded, not changed.
- cli: `pytorch-patterns run`, `compare` and `generate` end to end.

Writes $OUT/gpu_check.json (OUT defaults to ./gpu_check_out) after every finished check, so a run cut short still
leaves its results: one entry per check with name, ok, seconds, figures, error. The exit code is 0 even when checks
fail. Needs only torch and the project's declared dependencies (pydantic, rich); the repository root is put on
sys.path and PYTHONPATH, so no `pip install -e .` is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Child processes (runner workers, compare children, generated programs) import the project from the checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
os.environ.setdefault("PYTHONUNBUFFERED", "1")

try:
    from pydantic import BaseModel, Field
    from rich.console import Console
    from rich.table import Table
except ImportError as missing:  # the GPU image may lack the project's dependencies: say so in the JSON
    out_dir = Path(os.environ.get("OUT", "gpu_check_out"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_check.json").write_text(json.dumps({"error": f"missing dependency: {missing}", "checks": []}))
    print(f"gpu_check: missing dependency {missing.name!r}; install the project's dependencies first", file=sys.stderr)
    sys.exit(0)

from pytorch_patterns.reference_impls.sandbox import ChildResult, run_child  # noqa: E402  (needs sys.path above)

console = Console(width=160)
RESULT = "RESULT "  # prefix of the one JSON line each helper child prints


# ----------------------------------------------------------------------------- schema


class CheckRecord(BaseModel):
    name: str
    group: str
    ok: bool
    skipped: bool = False
    status: str  # PASS, FAIL or SKIP
    seconds: float
    summary: str = ""
    figures: dict = Field(default_factory=dict)
    error: str | None = None  # traceback tail or the failed condition


class Report(BaseModel):
    device_requested: str
    quick: bool
    started: str
    total_seconds: float = 0.0
    finished: bool = False
    environment: dict = Field(default_factory=dict)
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    checks: list[CheckRecord] = Field(default_factory=list)


class CheckFailed(Exception):
    """The check ran but a condition failed; its figures are kept."""

    def __init__(self, message: str, figures: dict | None = None) -> None:
        super().__init__(message)
        self.figures = figures or {}


class Skipped(Exception):
    pass


class Context:
    """What every check sees: the device, the mode, the scratch folder and the shared deadline."""

    def __init__(self, device: str, quick: bool, budget_s: float, scratch: Path, cuda_ok: bool) -> None:
        self.device = device
        self.quick = quick
        self.deadline = time.monotonic() + budget_s
        self.scratch = scratch
        self.cuda_ok = cuda_ok  # torch sees a GPU (the env check decided)
        self.env: dict = {}  # the environment check's figures

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def limit(self, seconds: float) -> float:
        """The check's own limit, cut to what is left of the whole run's budget."""
        left = self.deadline - time.monotonic()
        if left < 8:
            raise Skipped(f"skipped: out of the run's time budget ({left:.0f} s left)")
        return min(seconds, left)

    def workdir(self, name: str) -> Path:
        path = self.scratch / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


# ----------------------------------------------------------------------------- helpers


def child(argv: list[str], ctx: Context, limit_s: float, *, cwd: Path | None = None, env: dict | None = None,
          memory_mb: int | None = None) -> ChildResult:
    """A supervised child: its whole process group is killed at the limit (torchrun ranks, loader workers too)."""
    return run_child(argv, timeout_s=ctx.limit(limit_s), memory_mb=memory_mb, max_output_bytes=64_000, cwd=cwd,
                     env=env)


def python_child(code: str, args: list[str], ctx: Context, limit_s: float, **kw) -> tuple[ChildResult, dict | None]:
    """Run `python -c code args`; returns the result and the parsed `RESULT {json}` line, if any."""
    res = child([sys.executable, "-c", code, *args], ctx, limit_s, **kw)
    return res, result_line(res.stdout_tail)


def result_line(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    return None


def tail(res: ChildResult, n: int = 2500) -> str:
    text = (res.stderr_tail.strip() + "\n" + res.stdout_tail.strip()).strip()
    reason = f"[{res.killed_reason}: {res.message}] " if res.killed_reason else f"[exit {res.returncode}] "
    return reason + text[-n:]


def max_abs_diff(a: list[float], b: list[float]) -> float | None:
    if not a or not b:
        return None
    return max(abs(x - y) for x, y in zip(a, b))


def decreased(losses: list[float]) -> tuple[bool, float, float]:
    """Mean of the first fifth vs the last fifth (at least one value each): robust to one noisy step."""
    k = max(1, len(losses) // 5)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    return last < first, first, last


def last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def require(condition: bool, message: str, figures: dict) -> None:
    if not condition:
        raise CheckFailed(message, figures)


# ----------------------------------------------------------------------------- environment

ENV_CHILD = r"""
import json, os, platform, sys
import torch
info = {"python": platform.python_version(), "executable": sys.executable, "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
try:
    import pydantic, rich
    info["pydantic"] = pydantic.VERSION
except Exception as exc:
    info["deps_error"] = repr(exc)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(device_count=torch.cuda.device_count(), gpu=p.name, capability=f"sm_{p.major}{p.minor}",
                gpu_memory_mb=p.total_memory // 2**20, bf16_supported=torch.cuda.is_bf16_supported(),
                cudnn=torch.backends.cudnn.version(), matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)
    try:
        info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception as exc:
        info["nccl"] = repr(exc)
import torch.distributed as dist
info["nccl_backend_available"] = dist.is_available() and dist.is_nccl_available()
print("RESULT " + json.dumps(info))
"""


def check_environment(ctx: Context) -> dict:
    res, info = python_child(ENV_CHILD, [], ctx, 120)
    require(info is not None, "could not read the environment: " + tail(res), {})
    info["summary"] = (f"torch {info['torch']} (cuda {info['torch_cuda']}), "
                       + (f"{info.get('gpu')} {info.get('capability')}, nccl {info.get('nccl')}"
                          if info["cuda_available"] else "no GPU visible"))
    if ctx.cuda:
        require(info["cuda_available"], "--device cuda but torch.cuda.is_available() is False", info)
    return info


# ----------------------------------------------------------------------------- compare (kernels)


def compare_options(ctx: Context, **extra):
    from pytorch_patterns.reference_impls.compare import CompareOptions

    sizes = dict(trials=2, warmup=2, iters=5) if ctx.quick else dict(trials=3, warmup=3, iters=20)
    return CompareOptions(device=ctx.device, **{**sizes, **extra}, timeout_s=ctx.limit(120))


def check_compare(reference: Path) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        from pytorch_patterns.reference_impls.compare import KERNELS_DIR, compare

        candidate = KERNELS_DIR / "candidates" / reference.name
        self_compare = not candidate.is_file()
        if self_compare:  # no shipped candidate: the reference against itself still runs every path
            candidate = reference
        report = compare(reference, candidate, compare_options(ctx))
        figures = report.model_dump(exclude={"reference", "candidate", "output_tail"})
        figures["candidate_file"] = str(candidate.relative_to(REPO))
        figures["self_compare"] = self_compare
        speed = f"{report.speedup:.2f}x" if report.speedup else "-"
        figures["summary"] = (f"{'correct' if report.correct else 'NOT correct'} max|diff| "
                              f"{report.max_abs_diff if report.max_abs_diff is None else f'{report.max_abs_diff:.2g}'}"
                              f" ref {report.reference_ms or 0:.3f} ms cand {report.candidate_ms or 0:.3f} ms "
                              f"-> {speed} ({report.timer})")
        require(report.error is None, f"compare error: {report.error}\n{report.output_tail or ''}", figures)
        require(report.correct, "candidate not correct: " + "; ".join(report.problems), figures)
        if ctx.cuda:
            require((report.device or "").startswith("cuda") and report.timer == "perf_counter+cuda-sync",
                    f"ran on {report.device} with {report.timer}, expected cuda with perf_counter+cuda-sync", figures)
        return figures

    return run


CACHING_CANDIDATE = '''
"""A cheating candidate for softmax_rows: computes once, then returns the same tensor."""
import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.cached = None

    def forward(self, x):
        if self.cached is None:
            self.cached = torch.softmax(x, dim=-1)
        return self.cached
'''


def check_compare_refuses_cache(ctx: Context) -> dict:
    from pytorch_patterns.reference_impls.compare import KERNELS_DIR, compare

    candidate = ctx.workdir("caching_candidate") / "caching_softmax.py"
    candidate.write_text(CACHING_CANDIDATE)
    report = compare(KERNELS_DIR / "softmax_rows.py", candidate, compare_options(ctx, trials=3))
    figures = report.model_dump(exclude={"reference", "candidate", "output_tail"})
    figures["summary"] = "; ".join(report.problems)[:100] or f"correct={report.correct}"
    require(report.error is None, f"compare error: {report.error}\n{report.output_tail or ''}", figures)
    require(not report.correct and any("cached" in p for p in report.problems),
            "a candidate returning its cached output was not refused", figures)
    return figures


# ----------------------------------------------------------------------------- run (reference implementations)


def run_steps(ctx: Context, default_steps: int) -> int:
    return min(default_steps, 24) if ctx.quick else default_steps


def check_run(name: str, *, amp: str | None = None, compile_: bool = False, limit_s: float = 150,
              expect_amp: str | None = None) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        from pytorch_patterns.reference_impls import registry
        from pytorch_patterns.reference_impls.runner import RunOptions, run_reference

        if compile_ and ctx.quick:
            raise Skipped("skipped: --quick (torch.compile costs 12-50 s cold)")
        info = registry.get_impl(name)
        options = RunOptions(device=ctx.device, steps=run_steps(ctx, info.default_steps), amp=amp, compile=compile_,
                             check_determinism=True, check_resume=True, timeout_s=ctx.limit(limit_s))
        report = run_reference(name, options)
        return run_figures(ctx, report, requested_amp=amp, expect_amp=expect_amp)

    return run


def run_figures(ctx: Context, report, *, requested_amp: str | None, expect_amp: str | None,
                expect_device: str | None = None) -> dict:
    """Figures of a RunReport and the verdict: ran, loss went down, determinism and resume, right device/amp."""
    figures: dict = {"ok_by_runner": report.ok, "error": report.error, "killed_reason": report.killed_reason,
                     "steps": report.steps, "amp": report.amp, "amp_requested": requested_amp,
                     "compiled": report.compiled, "metric_name": report.metric_name, "eval_metric": report.eval_metric,
                     "throughput": report.throughput, "throughput_unit": report.throughput_unit,
                     "peak_rss_mb": report.peak_rss_mb, "cuda_max_allocated_mb": report.cuda_max_allocated_mb,
                     "warm_start": report.warm_start, "warnings": report.warnings}
    if report.device is not None:
        figures["device"] = report.device.model_dump()
    if report.timings is not None:
        figures["timings"] = {k: round(v, 3) for k, v in report.timings.model_dump().items()}
    if report.losses:
        went_down, first, last = decreased(report.losses)
        figures.update(loss_first=first, loss_last=last, loss_decreased=went_down, losses_head=report.losses[:3],
                       losses_tail=report.losses[-3:])
    for label, verdict in (("determinism", report.determinism), ("resume", report.resume)):
        if verdict is not None:
            figures[label] = verdict.model_dump()
            found = re.search(r"max \|loss diff\| ([0-9.e+-]+)", verdict.detail)
            if found:
                figures[f"{label}_max_abs_diff"] = float(found.group(1))
    if report.output_tail and not report.ok:
        figures["output_tail"] = report.output_tail[-3000:]
    det = figures.get("determinism", {}).get("passed")
    res = figures.get("resume", {}).get("passed")
    figures["summary"] = (f"{report.device.type if report.device else '?'} amp={report.amp} "
                          f"loss {figures.get('loss_first', float('nan')):.3f}->{figures.get('loss_last', float('nan')):.3f} "
                          f"det={'ok' if det else det} resume={'ok' if res else res} "
                          f"rss={report.peak_rss_mb or 0:.0f}MB cuda={report.cuda_max_allocated_mb or 0:.0f}MB")

    require(report.device is not None and report.losses, f"run failed: {report.error}\n{report.output_tail or ''}",
            figures)
    want_device = expect_device or ctx.device
    require(report.device.type == want_device, f"reported device {report.device.type}, expected {want_device}", figures)
    require(figures["loss_decreased"], f"loss did not go down ({figures['loss_first']:.4f} -> {figures['loss_last']:.4f})",
            figures)
    if ctx.cuda:
        if expect_amp == "auto":  # resolve_amp: bf16 where the GPU has it natively, else fp16
            expect_amp = "bf16" if ctx.env.get("bf16_supported") else "fp16"
        if expect_amp is not None:
            require(report.amp == expect_amp, f"amp resolved to {report.amp}, expected {expect_amp}", figures)
        require((report.cuda_max_allocated_mb or 0) > 0 or want_device != "cuda",
                "cuda_max_allocated_mb missing on a CUDA run", figures)
    if det is False:
        raise CheckFailed("same seed twice gave different losses: " + figures["determinism"]["detail"], figures)
    if res is False:
        raise CheckFailed("stop + resume differs from the uninterrupted run: " + figures["resume"]["detail"], figures)
    require(report.ok, f"runner said not ok: {report.error}", figures)
    return figures


def check_run_ddp_auto(ctx: Context) -> dict:
    """ddp_cpu with device auto: on fewer GPUs than ranks it must fall back to gloo on CPU and still train."""
    from pytorch_patterns.reference_impls import registry
    from pytorch_patterns.reference_impls.runner import RunOptions, run_reference

    info = registry.get_impl("ddp_cpu")
    options = RunOptions(device="auto" if ctx.cuda else "cpu", steps=run_steps(ctx, info.default_steps),
                         check_determinism=True, check_resume=True, timeout_s=ctx.limit(150))
    report = run_reference("ddp_cpu", options)
    # rank_device(): one GPU per rank when there are enough GPUs, else every rank on CPU (gloo). The report's
    # device should say where the ranks trained, not where the launching worker would have.
    ranks_on = "cuda" if ctx.cuda and ctx.env.get("device_count", 0) >= 2 else "cpu"
    return run_figures(ctx, report, requested_amp=None, expect_amp=None, expect_device=ranks_on)


def check_run_ddp_cuda_explicit(ctx: Context) -> dict:
    """ddp_cpu with device cuda on one GPU must refuse clearly (it needs one GPU per rank)."""
    from pytorch_patterns.reference_impls.runner import RunOptions, run_reference

    gpus = gpu_count(ctx)

    options = RunOptions(device="cuda", steps=10, timeout_s=ctx.limit(90))
    report = run_reference("ddp_cpu", options)
    figures = {"gpus": gpus, "ok_by_runner": report.ok, "error": report.error,
               "output_tail": (report.output_tail or "")[-1500:]}
    if gpus >= 2:
        figures["summary"] = "2+ GPUs: trained with NCCL" if report.ok else f"failed: {report.error}"
        require(report.ok, f"DDP on {gpus} GPUs failed: {report.error}", figures)
    else:
        figures["summary"] = f"refused: {report.error}"[:100]
        require(not report.ok and "GPUs" in (report.error or ""),
                "expected a clear 'DDP on cuda needs 2 GPUs' error", figures)
    return figures


def gpu_count(ctx: Context) -> int:
    res, out = python_child("import json, torch; print('RESULT ' + json.dumps(torch.cuda.device_count()))", [],
                            ctx, 60)
    return int(out or 0)


DDP_WORLD1_CHILD = r"""
import json, sys, tempfile
from pathlib import Path
from pytorch_patterns.reference_impls.common import TrainHooks
from pytorch_patterns.reference_impls.impls import ddp_cpu

device, steps = sys.argv[1], int(sys.argv[2])
cfg = ddp_cpu.Config(world_size=1, device=device, steps=steps)
main = ddp_cpu.train(cfg)
again = ddp_cpu.train(cfg)
with tempfile.TemporaryDirectory() as tmp:
    ckpt = Path(tmp) / "checkpoint.pt"
    first = ddp_cpu.train(cfg, TrainHooks(checkpoint_path=ckpt, stop_at=steps // 2))
    second = ddp_cpu.train(cfg, TrainHooks(checkpoint_path=ckpt, resume=True))
print("RESULT " + json.dumps({"device": main.device, "losses": main.losses, "repeat": again.losses,
                              "resumed": first.losses + second.losses, "metric": main.eval_metric,
                              "metric_resumed": second.eval_metric}))
"""


def check_ddp_world1(ctx: Context) -> dict:
    """The reference DDP loop on one rank: NCCL on CUDA (gloo in --device cpu mode), repeat and resume."""
    steps = 20 if ctx.quick else 40
    res, out = python_child(DDP_WORLD1_CHILD, [ctx.device, str(steps)], ctx, 150, cwd=REPO)
    require(out is not None, "DDP child failed: " + tail(res), {})
    went_down, first, last = decreased(out["losses"])
    figures = {"backend": "nccl" if ctx.cuda else "gloo (cpu mode; nccl needs cuda)", "device": out["device"],
               "loss_first": first, "loss_last": last, "loss_decreased": went_down,
               "repeat_equal": out["repeat"] == out["losses"],
               "repeat_max_abs_diff": max_abs_diff(out["repeat"], out["losses"]),
               "resume_equal": out["resumed"] == out["losses"],
               "resume_max_abs_diff": max_abs_diff(out["resumed"], out["losses"]),
               "metric": out["metric"], "metric_resumed": out["metric_resumed"]}
    figures["summary"] = (f"{figures['backend'].split()[0]} {out['device']} loss {first:.3f}->{last:.3f} "
                          f"repeat={figures['repeat_equal']} resume={figures['resume_equal']}")
    require(went_down, "loss did not go down", figures)
    require(figures["repeat_equal"], f"repeat differs (max {figures['repeat_max_abs_diff']})", figures)
    require(figures["resume_equal"] and out["metric"] == out["metric_resumed"],
            f"resume differs (max {figures['resume_max_abs_diff']})", figures)
    return figures


# ----------------------------------------------------------------------------- generated programs


def drive_helpers():
    """tests/generate's driver and verdict, reused when importable (they need pytest)."""
    driver = REPO / "tests" / "generate" / "drive.py"
    try:
        from tests.generate.conftest import DRIVER, check_run_result

        return DRIVER, check_run_result
    except Exception:  # noqa: BLE001 -- pytest missing: the figures below still give the verdict
        return driver, None


GEN_SPECS: dict[str, str] = {
    # check name -> spec name in skill.generate.matrix (see matrix.py for the options)
    "gen:fp32_mlp_batchnorm": "b00_classification_v00",
    "gen:bf16_ema_file_list": "b07_regression_v01",
    "gen:fp16_scaler_accum2_lm": "b08_language_modelling_v02",
    "gen:fp16_scaler_varlen_seqcls": "b11_sequence_classification_v02",
    "gen:accum3_bucketing": "b12_sequence_classification_v09",
    "gen:workers_pin_memory_bf16_seg": "b13_segmentation_v01",
    "gen:fp16_cnn_image_folder": "b02_classification_v02",
    "gen:ddp_code_single_process_fp16": "b05_regression_v11",
}
COMPILE_SPEC = "b01_classification_v07"  # run last in its group: the one slow torch.compile check


def write_program(ctx: Context, spec_name: str, workdir: Path) -> Path:
    from pytorch_patterns.skill.generate import generate_train_loop
    from pytorch_patterns.skill.generate.matrix import spec_matrix

    program = workdir / f"{spec_name}.py"
    program.write_text(generate_train_loop(dict(spec_matrix())[spec_name]).code)
    return program


def check_generated(check_name: str, spec_name: str) -> Callable[[Context], dict]:
    compiles = check_name == "gen:compile"

    def run(ctx: Context) -> dict:
        if compiles and ctx.quick:
            raise Skipped("skipped: --quick (torch.compile costs 10-30 s cold)")
        workdir = ctx.workdir(check_name)
        program = write_program(ctx, spec_name, workdir)
        driver, verdict = drive_helpers()
        extra = ["--device", ctx.device] + ([] if compiles else ["--no-compile"])
        if ctx.device.startswith("cuda"):
            extra.append("--deterministic")  # bitwise repeats on CUDA need deterministic kernels
        res = child([sys.executable, str(driver), str(program), str(workdir), *extra], ctx, 240 if compiles else 150,
                    cwd=workdir)
        out = result_line(res.stdout_tail)
        require(res.ok and out is not None, f"{spec_name} failed: " + tail(res), {"spec": spec_name})
        straight = [loss for _, loss in out["straight"]]
        repeat = [loss for _, loss in out["repeat"]]
        resumed = [loss for _, loss in out["resumed"]]
        went_down, first, last = decreased(straight)
        figures = {"spec": spec_name, "device": ctx.device, "steps_logged": len(straight), "loss_first": first,
                   "loss_last": last, "loss_decreased": went_down, "repeat_equal": repeat == straight,
                   "repeat_max_abs_diff": max_abs_diff(repeat, straight), "resume_equal": resumed == straight,
                   "resume_max_abs_diff": max_abs_diff(resumed, straight),
                   "eval_equal_after_resume": out["resumed_eval"] == out["straight_eval"],
                   "files": out["straight_files"], "stderr_tail": res.stderr_tail[-800:]}
        figures["summary"] = (f"loss {first:.3f}->{last:.3f} repeat={'ok' if figures['repeat_equal'] else 'DIFF'} "
                              f"resume={'ok' if figures['resume_equal'] else 'DIFF'} "
                              f"(max diff {figures['repeat_max_abs_diff']:.2g}/{figures['resume_max_abs_diff']:.2g})")
        if verdict is not None:
            try:
                verdict(spec_name, out)
            except AssertionError as exc:
                raise CheckFailed(f"tests/generate verdict: {exc}", figures) from None
        else:
            require(went_down and figures["repeat_equal"] and figures["resume_equal"]
                    and figures["eval_equal_after_resume"], "loss/repeat/resume check failed", figures)
        return figures

    return run


def torchrun(program: Path, out: Path, ctx: Context, limit_s: float, *extra: str) -> ChildResult:
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", str(program),
            "--synthetic-data", "--max-steps", "20", "--device", ctx.device, "--num-threads", "1",
            "--log-interval", "1", "--output-dir", str(out),
            *(["--deterministic"] if ctx.device.startswith("cuda") else []), *extra]
    return child(argv, ctx, limit_s, cwd=program.parent, env={**os.environ, "OMP_NUM_THREADS": "1"})


def train_losses(out: Path) -> list[float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r["type"] == "train"]


def check_generated_torchrun(ctx: Context) -> dict:
    """A DDP variant (fp16 + GradScaler + accumulation + clipping) under torchrun: NCCL on one GPU."""
    spec_name = "b05_regression_v11"
    workdir = ctx.workdir("gen_torchrun")
    program = write_program(ctx, spec_name, workdir)
    figures: dict = {"spec": spec_name, "backend": "nccl" if ctx.cuda else "gloo (cpu mode; nccl needs cuda)"}
    res = torchrun(program, workdir / "straight", ctx, 120)
    require(res.ok, "torchrun straight run failed: " + tail(res), figures)
    straight = train_losses(workdir / "straight")
    checkpoints = sorted(p.name for p in (workdir / "straight").glob("ckpt_step*.pt"))
    res = torchrun(program, workdir / "resumed", ctx, 120, "--stop-at-step", "10")
    require(res.ok, "torchrun --stop-at-step failed: " + tail(res), figures)
    res = torchrun(program, workdir / "resumed", ctx, 120, "--resume")
    require(res.ok, "torchrun --resume failed: " + tail(res), figures)
    resumed = train_losses(workdir / "resumed")
    went_down, first, last = decreased(straight)
    figures.update(steps_logged=len(straight), loss_first=first, loss_last=last, loss_decreased=went_down,
                   checkpoints=checkpoints, resume_equal=resumed == straight,
                   resume_max_abs_diff=max_abs_diff(resumed, straight), stderr_tail=res.stderr_tail[-800:])
    figures["summary"] = (f"{figures['backend'].split()[0]} loss {first:.3f}->{last:.3f} ckpts={len(checkpoints)} "
                          f"resume={'ok' if figures['resume_equal'] else 'DIFF'}")
    require(len(straight) == 20 and went_down, "20 steps with a decreasing loss expected", figures)
    require(bool(checkpoints), "rank 0 wrote no checkpoint", figures)
    require(figures["resume_equal"], f"stop+resume differs (max {figures['resume_max_abs_diff']})", figures)
    return figures


def check_generated_dataset(ctx: Context) -> dict:
    """The generated dataset program with DataLoader workers and pin_memory on the device."""
    from pytorch_patterns.skill.generate import generate_dataset

    workdir = ctx.workdir("gen_dataset")
    program = workdir / "dataset.py"
    program.write_text(generate_dataset({"task": "segmentation", "source": "file_list", "image_size": 16,
                                         "loader": {"num_workers": 2}}).code)
    res = child([sys.executable, str(program), "--synthetic-data", "--synthetic-size", "256", "--device", ctx.device,
                 "--epochs", "2"], ctx, 90, cwd=workdir)
    figures = {"stdout": res.stdout_tail[-600:], "returncode": res.returncode}
    figures["summary"] = next((line for line in res.stdout_tail.splitlines() if line.startswith("batch:")), "")[:100]
    require(res.ok and "batch: inputs" in res.stdout_tail, "dataset program failed: " + tail(res), figures)
    return figures


def check_generated_checkpoint(ctx: Context) -> dict:
    """The generated checkpoint helpers' self-check (it picks CUDA when available: CUDA RNG states saved)."""
    from pytorch_patterns.skill.generate import generate_checkpoint

    workdir = ctx.workdir("gen_checkpoint")
    program = workdir / "checkpointing.py"
    program.write_text(generate_checkpoint({"keep_last_n": 2}).code)
    env = {**os.environ, **({} if ctx.cuda else {"CUDA_VISIBLE_DEVICES": ""})}
    res = child([sys.executable, str(program)], ctx, 90, cwd=workdir, env=env)
    figures = {"stdout": res.stdout_tail[-400:], "summary": res.stdout_tail.strip()[-100:]}
    require(res.ok and "restored exactly" in res.stdout_tail, "checkpoint self-check failed: " + tail(res), figures)
    return figures


# ----------------------------------------------------------------------------- sandbox and evals

SANDBOX_CHILD = r"""
import json, sys, time
import torch
device, mb = sys.argv[1], int(sys.argv[2])
x = torch.ones(mb * 2**20 // 4, device=device)  # written, so really resident (GPU memory on cuda)
if device == "cuda":
    torch.cuda.synchronize()
status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    if key in ("VmPeak", "VmSize", "VmRSS"):
        status[key + "_mb"] = int(value.split()[0]) // 1024
print("RESULT " + json.dumps({**status, "checksum": float(x[:10].sum())}), flush=True)
time.sleep(1.0)
"""


def check_sandbox_cuda_child(ctx: Context) -> dict:
    """A child holding a CUDA context and 1 GiB of GPU memory stays under the RSS cap and is not killed."""
    cap_mb = 3072
    res, out = python_child(SANDBOX_CHILD, [ctx.device, "1024" if ctx.cuda else "256"], ctx, 90, memory_mb=cap_mb)
    figures = {"memory_cap_mb": cap_mb, "peak_rss_mb": res.peak_rss_mb, "killed_reason": res.killed_reason,
               "returncode": res.returncode, "wall_s": round(res.wall_s, 2), **(out or {})}
    figures["summary"] = (f"peak_rss {res.peak_rss_mb:.0f} MB, address space {figures.get('VmSize_mb', '?')} MB "
                          f"(cap {cap_mb} MB), killed={res.killed_reason}")
    require(res.ok and out is not None, "child failed or was killed: " + tail(res), figures)
    require(res.peak_rss_mb > 0, "peak_rss_mb not measured", figures)
    if ctx.cuda:
        figures["address_space_exceeds_cap"] = figures.get("VmSize_mb", 0) > cap_mb
    return figures


def check_sandbox_cuda_isolated(ctx: Context) -> dict:
    """The same CUDA child under `Isolation` (bubblewrap, full level, NVIDIA devices bound): does CUDA still work?"""
    try:
        from pytorch_patterns.reference_impls.sandbox import Isolation
    except ImportError:
        raise Skipped("skipped: this checkout's sandbox has no Isolation") from None
    workdir = ctx.workdir("sandbox_isolated")
    env = {**os.environ, "HOME": str(workdir), "TMPDIR": str(workdir)}
    res = run_child([sys.executable, "-c", SANDBOX_CHILD, ctx.device, "256"], timeout_s=ctx.limit(90),
                    memory_mb=3072, max_output_bytes=64_000, cwd=workdir, env=env,
                    isolation=Isolation(workspace=workdir, copy_back=False, cuda=str(ctx.device).startswith("cuda")))
    out = result_line(res.stdout_tail)
    figures = {"containment": str(getattr(res, "containment", None)), "containment_note": getattr(res, "containment_note", None),
               "peak_rss_mb": res.peak_rss_mb, "killed_reason": res.killed_reason, "returncode": res.returncode,
               **(out or {})}
    figures["summary"] = (f"containment={figures['containment']}, exit {res.returncode}, "
                          f"peak_rss {res.peak_rss_mb:.0f} MB")
    require(res.ok and out is not None, f"{ctx.device} child failed under isolation: " + tail(res), figures)
    return figures


SANDBOX_HOG_CHILD = r"""
import sys, time
import torch
device, mb = sys.argv[1], int(sys.argv[2])
torch.ones(1, device=device)  # the CUDA context first, then host memory beyond the cap
hog = torch.ones(mb * 2**20 // 4)
print("allocated", flush=True)
time.sleep(30)
"""


def check_sandbox_cap_kills(ctx: Context) -> dict:
    """With a CUDA context alive the resident-memory cap still kills a child that takes too much host memory."""
    cap_mb, hog_mb = (2048, 3072) if ctx.cuda else (768, 1024)
    res = child([sys.executable, "-c", SANDBOX_HOG_CHILD, ctx.device, str(hog_mb)], ctx, 60, memory_mb=cap_mb)
    figures = {"memory_cap_mb": cap_mb, "host_alloc_mb": hog_mb, "killed_reason": res.killed_reason,
               "message": res.message, "peak_rss_mb": res.peak_rss_mb, "wall_s": round(res.wall_s, 2)}
    figures["summary"] = f"killed={res.killed_reason} after {res.wall_s:.1f} s (peak {res.peak_rss_mb:.0f} MB)"
    require(res.killed_reason == "memory", "the memory cap did not kill the child: " + tail(res), figures)
    return figures


def check_evals_cpu_only(ctx: Context) -> dict:
    """evals/checks.py hides the GPU from submissions: record it (by design, not changed here)."""
    from pytorch_patterns.evals.checks import _env

    workdir = ctx.workdir("evals_env")
    env = _env(workdir)
    res, out = python_child("import json, torch; print('RESULT ' + json.dumps(torch.cuda.is_available()))", [],
                            ctx, 60, env=env, cwd=workdir)
    figures = {"CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES"), "torch_sees_cuda_in_eval_env": out,
               "note": "evals are CPU-only by design (evals/checks.py _env sets CUDA_VISIBLE_DEVICES='')"}
    figures["summary"] = f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES')!r}, cuda visible there: {out}"
    require(out is False, "the eval environment still shows a GPU: " + tail(res), figures)
    return figures


# ----------------------------------------------------------------------------- CLI


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytorch_patterns", *args]


def check_cli_run(ctx: Context) -> dict:
    res = child(cli("run", "mlp_tabular", "--device", ctx.device, "--steps", "20", "--format", "json"), ctx, 120,
                cwd=REPO)
    report = json.loads(res.stdout_tail[res.stdout_tail.find("{"):]) if "{" in res.stdout_tail else {}
    figures = {"returncode": res.returncode, "device": report.get("device"), "amp": report.get("amp"),
               "cuda_max_allocated_mb": report.get("cuda_max_allocated_mb"), "peak_rss_mb": report.get("peak_rss_mb")}
    figures["summary"] = (f"exit {res.returncode}, {(report.get('device') or {}).get('name')}, "
                          f"cuda_max_allocated {report.get('cuda_max_allocated_mb')}")
    require(res.returncode == 0 and (report.get("device") or {}).get("type") == ctx.device,
            "pytorch-patterns run failed: " + tail(res), figures)
    if ctx.cuda:
        require((report.get("cuda_max_allocated_mb") or 0) > 0, "no cuda_max_allocated_mb in the JSON report", figures)
    return figures


def check_cli_compare(ctx: Context) -> dict:
    candidate = REPO / "reference_impls" / "kernels" / "candidates" / "softmax_rows.py"
    res = child(cli("compare", "softmax_rows", str(candidate), "--device", ctx.device, "--trials", "2", "--iters", "5",
                    "--format", "json"), ctx, 120, cwd=REPO)
    report = json.loads(res.stdout_tail[res.stdout_tail.find("{"):]) if "{" in res.stdout_tail else {}
    figures = {k: report.get(k) for k in ("device", "correct", "speedup", "timer", "max_abs_diff")}
    figures["returncode"] = res.returncode
    figures["summary"] = f"exit {res.returncode}, correct={report.get('correct')}, speedup={report.get('speedup')}"
    require(res.returncode == 0 and report.get("correct"), "pytorch-patterns compare failed: " + tail(res), figures)
    return figures


def check_cli_generate(ctx: Context) -> dict:
    """`generate train-loop --set device=...` then the program trains 10 steps on that device by default."""
    workdir = ctx.workdir("cli_generate")
    program = workdir / "train.py"
    res = child(cli("generate", "train-loop", "--set", "task=regression", "--set", "amp=bf16", "--set",
                    f"device={ctx.device}", "-o", str(program)), ctx, 60, cwd=REPO)
    require(res.ok and program.is_file(), "pytorch-patterns generate failed: " + tail(res), {})
    res = child([sys.executable, str(program), "--synthetic-data", "--max-steps", "10", "--log-interval", "1",
                 "--output-dir", str(workdir / "out")], ctx, 120, cwd=workdir)
    figures = {"returncode": res.returncode, "stderr_tail": res.stderr_tail[-600:]}
    require(res.ok, "generated program failed: " + tail(res), figures)
    losses = train_losses(workdir / "out")
    figures.update(steps_logged=len(losses), loss_first=losses[0], loss_last=losses[-1])
    figures["summary"] = f"{len(losses)} steps, loss {losses[0]:.3f}->{losses[-1]:.3f}"
    require(len(losses) == 10, "expected 10 logged steps", figures)
    return figures


# ----------------------------------------------------------------------------- the plan


class Check:
    def __init__(self, name: str, group: str, fn: Callable[[Context], dict], needs_cuda: bool = False) -> None:
        self.name, self.group, self.fn, self.needs_cuda = name, group, fn, needs_cuda


def plan() -> list[Check]:
    from pytorch_patterns.reference_impls import registry
    from pytorch_patterns.reference_impls.compare import list_kernel_references

    checks = [Check(f"compare:{ref.stem}", "compare", check_compare(ref)) for ref in list_kernel_references()]
    checks.append(Check("compare:refuses_cached_output", "compare", check_compare_refuses_cache))

    run = []
    for info in registry.list_impls():
        if info.name == "ddp_cpu":
            continue  # its own checks below (it needs one GPU per rank for NCCL)
        run.append(Check(f"run:{info.name}", "run", check_run(info.name)))
    run += [
        Check("run:mixed_precision amp=auto", "run", check_run("mixed_precision", amp="auto", expect_amp="auto")),
        Check("run:mixed_precision amp=fp16", "run", check_run("mixed_precision", amp="fp16", expect_amp="fp16")),
        Check("run:char_lm amp=bf16", "run", check_run("char_lm", amp="bf16", expect_amp="bf16")),
        Check("run:cnn_image amp=fp16", "run", check_run("cnn_image", amp="fp16", expect_amp="fp16")),
        Check("run:seq_classify amp=fp16", "run", check_run("seq_classify", amp="fp16", expect_amp="fp16")),
        Check("run:autoencoder amp=bf16", "run", check_run("autoencoder", amp="bf16", expect_amp="bf16")),
        Check("run:ddp_cpu device=auto", "run", check_run_ddp_auto),
        Check("run:ddp_cpu device=cuda", "run", check_run_ddp_cuda_explicit, needs_cuda=True),
        Check("run:ddp world_size=1 (nccl)", "run", check_ddp_world1),
        Check("run:compiled_mlp --compile", "run", check_run("compiled_mlp", compile_=True, limit_s=240)),
    ]
    checks += run

    checks += [Check(name, "gen", check_generated(name, spec)) for name, spec in GEN_SPECS.items()]
    checks += [
        Check("gen:ddp_torchrun (nccl)", "gen", check_generated_torchrun),
        Check("gen:dataset_program", "gen", check_generated_dataset),
        Check("gen:checkpoint_program", "gen", check_generated_checkpoint),
        Check("gen:compile", "gen", check_generated("gen:compile", COMPILE_SPEC)),
    ]
    checks += [
        Check("sandbox:cuda_child_not_killed", "misc", check_sandbox_cuda_child),
        Check("sandbox:memory_cap_still_kills", "misc", check_sandbox_cap_kills),
        Check("sandbox:cuda_child_isolated", "misc", check_sandbox_cuda_isolated),
        Check("evals:cpu_only", "misc", check_evals_cpu_only),
        Check("cli:run", "misc", check_cli_run),
        Check("cli:compare", "misc", check_cli_compare),
        Check("cli:generate", "misc", check_cli_generate),
    ]
    return checks


# ----------------------------------------------------------------------------- execution


class Recorder:
    """Collects records and rewrites the JSON after each one (a run cut short keeps what finished)."""

    def __init__(self, report: Report, path: Path, t0: float) -> None:
        self.report, self.path, self.t0 = report, path, t0
        self.lock = threading.Lock()

    def add(self, record: CheckRecord) -> None:
        with self.lock:
            self.report.checks.append(record)
            self.report.passed = sum(c.status == "PASS" for c in self.report.checks)
            self.report.failed = sum(c.status == "FAIL" for c in self.report.checks)
            self.report.skipped = sum(c.status == "SKIP" for c in self.report.checks)
            self.write()
        style = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}[record.status]
        console.print(f"[{style}]{record.status}[/{style}] {record.name} ({record.seconds:.1f} s) {record.summary}"
                      + (f"\n    [red]{last_line(record.error)[:150]}[/red]"
                         if record.status == "FAIL" and record.error else ""), highlight=False, soft_wrap=True)

    def write(self) -> None:
        self.report.total_seconds = round(time.monotonic() - self.t0, 1)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.report.model_dump_json(indent=1))
        os.replace(tmp, self.path)


def execute(check: Check, ctx: Context) -> CheckRecord:
    t0 = time.monotonic()
    figures: dict = {}
    error = None
    status = "PASS"
    try:
        if check.needs_cuda and not ctx.cuda:
            raise Skipped("skipped: needs cuda")
        if ctx.cuda and not ctx.cuda_ok and check.group != "env":
            raise Skipped("skipped: torch sees no GPU (see the environment check)")
        figures = check.fn(ctx) or {}
    except Skipped as exc:
        status, error = "SKIP", str(exc)
    except CheckFailed as exc:
        status, figures = "FAIL", exc.figures
        error = str(exc)[-4000:]
    except Exception:  # noqa: BLE001 -- any crash of one check is recorded; the others still run
        status, error = "FAIL", traceback.format_exc()[-4000:]
    summary = str(figures.pop("summary", "")) if status != "SKIP" else (error or "")
    return CheckRecord(name=check.name, group=check.group, ok=status == "PASS", skipped=status == "SKIP",
                       status=status, seconds=round(time.monotonic() - t0, 2), summary=summary,
                       figures=json.loads(json.dumps(figures, default=str)), error=error)


def run_group(checks: list[Check], ctx: Context, recorder: Recorder) -> None:
    for check in checks:
        recorder.add(execute(check, ctx))


def print_table(report: Report) -> None:
    table = Table(title=f"gpu_check on {report.environment.get('gpu') or report.device_requested}: "
                        f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped "
                        f"in {report.total_seconds:.0f} s", title_justify="left")
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("status")
    table.add_column("s", justify="right")
    table.add_column("figures / error", overflow="fold")
    for record in report.checks:
        style = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}[record.status]
        text = record.summary
        if record.status == "FAIL" and record.error:
            text = (text + " | " if text else "") + last_line(record.error)[:140]
        table.add_row(record.name, f"[{style}]{record.status}[/{style}]", f"{record.seconds:.1f}", text)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="fewer steps and trials; skip the torch.compile checks")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="whole-run time budget; checks that would start later are skipped "
                             "(default: 280 s on cuda, 1800 s on cpu)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="check groups run at once after the timing group (default: 3 on cuda, 1 on cpu)")
    parser.add_argument("--only", default=None, help="regular expression: run only the matching checks")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    out_dir = Path(os.environ.get("OUT") or "gpu_check_out").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = args.budget_s if args.budget_s is not None else (280.0 if args.device == "cuda" else 1800.0)
    jobs = args.jobs or (3 if args.device == "cuda" else 1)
    report = Report(device_requested=args.device, quick=args.quick, started=time.strftime("%Y-%m-%d %H:%M:%S"))
    recorder = Recorder(report, out_dir / "gpu_check.json", t0)
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    ctx = Context(args.device, args.quick, budget, scratch, cuda_ok=False)
    console.print(f"gpu_check: device {args.device}, quick={args.quick}, budget {budget:.0f} s, jobs {jobs}, "
                  f"results -> {recorder.path}", highlight=False)
    try:
        env_record = execute(Check("environment", "env", check_environment), ctx)
        report.environment = env_record.figures
        ctx.cuda_ok = bool(env_record.figures.get("cuda_available"))
        ctx.env = env_record.figures
        recorder.add(env_record)

        checks = plan()
        if args.only:
            checks = [c for c in checks if re.search(args.only, c.name)]
        groups: dict[str, list[Check]] = {}
        for check in checks:
            groups.setdefault(check.group, []).append(check)
        # Kernel timings first and alone; then the other groups side by side (each is sequential inside).
        run_group(groups.pop("compare", []), ctx, recorder)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for future in [pool.submit(run_group, group, ctx, recorder) for group in groups.values()]:
                future.result()
    finally:
        from pytorch_patterns.reference_impls.runner import DEFAULT_POOL

        DEFAULT_POOL.close()  # the spare warm worker
        shutil.rmtree(scratch, ignore_errors=True)
        report.finished = True
        recorder.write()
    print_table(report)
    console.print(f"wrote {recorder.path} ({report.total_seconds:.0f} s)", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
