"""The child side of the runner: `python -m pytorch_patterns.reference_impls.worker`.

It imports torch first, announces itself ready, then reads one job (a JSON line) from stdin, runs it and writes
structured lines `@@ptp {json}` to stdout: progress events while it runs, then one result (or error) event. Anything
else on stdout/stderr is the implementation's own output. A warm worker is one started ahead of time that is
already waiting on stdin with torch imported.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

PREFIX = "@@ptp "
_T_PROCESS = time.time()


def emit(event: str, **fields) -> None:
    sys.stdout.write(PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _device_info(torch, device) -> dict:
    from pytorch_patterns.reference_impls import common

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"type": "cuda", "name": props.name, "capability": f"sm_{props.major}{props.minor}",
                "memory_mb": props.total_memory // (1 << 20),
                "native_bf16": bool(torch.cuda.is_bf16_supported(including_emulation=False))}
    if device.type == "mps":
        return {"type": "mps", "name": platform.machine() or "apple-silicon", "capability": "mps",
                "memory_mb": None, "native_bf16": None}
    flags = common.cpu_flags()
    name = platform.processor() or platform.machine()
    memory_mb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return {"type": "cpu", "name": name, "capability": torch.backends.cpu.get_cpu_capability(),
            "memory_mb": memory_mb, "native_bf16": common.cpu_has_native_bf16(flags),
            "native_fp16": common.cpu_has_native_fp16(flags), "threads": torch.get_num_threads()}


def _amp_guard(requested: str, device_info: dict, allow_slow: bool) -> tuple[str, list[str]]:
    """Refuse to silently run a precision this hardware emulates (bf16 on AVX2 is 40-130x slower than fp32)."""
    warnings: list[str] = []
    if device_info["type"] != "cpu" or requested in ("none", "auto"):
        return requested, warnings
    native = device_info.get("native_bf16") if requested == "bf16" else device_info.get("native_fp16")
    if native:
        return requested, warnings
    what = (f"{requested} requested on a CPU without native {requested} support "
            f"(capability {device_info['capability']}): {requested} matmuls are emulated there, "
            f"40-130x slower than fp32")
    if allow_slow:
        warnings.append(what + "; running it anyway (allow_slow_amp)")
        return requested, warnings
    warnings.append(what + "; ran in fp32 instead (CLI: --allow-slow-amp, MCP: allow_slow_amp=true to force it)")
    return "none", warnings


def pick_threads(requested: int | None, default: int) -> tuple[int, str | None]:
    """Explicit thread count, else torch's default unless the cores are already busy: OpenMP threads that
    have to share oversubscribed cores spin and wait, measured up to 25x slower than one thread here."""
    if requested:
        return requested, None
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return default, None
    if default > 1 and load >= cores:
        return 1, (f"the {cores} cores are busy (load average {load:.1f}): using 1 intra-op thread instead of "
                   f"{default}; pass --threads to override")
    return default, None


def run_job(job: dict) -> dict:
    import resource

    import torch

    from pytorch_patterns.reference_impls import common, registry
    from pytorch_patterns.reference_impls.common import TrainHooks

    t_job = time.time()
    opts = job["options"]
    info = registry.get_impl(job["name"])
    module = registry.load_module(job["name"])
    overrides = {"seed": opts["seed"], "device": opts["device"], "compile": opts["compile"]}
    if opts.get("steps") is not None:
        overrides["steps"] = opts["steps"]
    warnings: list[str] = []
    threads, note = pick_threads(opts.get("threads"), torch.get_num_threads())
    torch.set_num_threads(threads)
    if note:
        warnings.append(note)
    cfg = module.Config(**overrides)
    # An implementation that places its work itself (DDP ranks) says where it really trains.
    device = module.run_device(cfg) if hasattr(module, "run_device") else common.pick_device(cfg.device)
    device_info = _device_info(torch, device)

    amp = opts.get("amp") or cfg.amp
    if amp == "auto":
        amp = common.resolve_amp(device, "auto")
    amp, amp_warnings = _amp_guard(amp, device_info, opts.get("allow_slow_amp", False))
    warnings += amp_warnings
    cfg = cfg.model_copy(update={"amp": amp})
    if info.name == "compiled_mlp" and not cfg.compile:
        warnings.append("torch.compile is off for this smoke run (CLI: --compile, MCP: compile=true; it costs 12-120 s cold on CPUs)")

    runs = 1 + int(opts["check_determinism"]) + int(opts["check_resume"])
    total = float(cfg.steps * runs)
    offset = [0.0]
    phase = ["train"]

    def on_log(step: int, steps: int, loss: float) -> None:
        emit("progress", completed=offset[0] + step, total=total,
             message=f"{phase[0]} step {step}/{steps} loss {loss:.4f}")

    emit("progress", completed=0.0, total=total, message=f"{info.name}: training {cfg.steps} steps on {device}")
    t_train_begin = time.time()
    main = module.train(cfg, TrainHooks(on_log=on_log))
    offset[0] += cfg.steps

    determinism = None
    if opts["check_determinism"]:
        phase[0] = "determinism"
        again = module.train(cfg, TrainHooks(on_log=on_log))
        offset[0] += cfg.steps
        same = again.losses == main.losses and again.eval_metric == main.eval_metric
        diff = max((abs(a - b) for a, b in zip(again.losses, main.losses)), default=0.0)
        detail = ("two runs with seed %d gave bit-identical losses (%d steps) and metric" % (cfg.seed, len(main.losses))
                  if same else f"runs differ: max |loss diff| {diff:.3g}, metric {main.eval_metric} vs "
                  f"{again.eval_metric}, lengths {len(main.losses)} vs {len(again.losses)}")
        if not same and device.type != "cpu":
            detail += " (bitwise equality is only promised on CPU)"
        determinism = {"passed": same, "detail": detail}

    resume = None
    if opts["check_resume"]:
        phase[0] = "resume"
        k = max(1, cfg.steps // 2)
        with tempfile.TemporaryDirectory(prefix="ptp-resume-") as tmp:
            ckpt = Path(tmp) / "checkpoint.pt"
            first = module.train(cfg, TrainHooks(checkpoint_path=ckpt, stop_at=k, on_log=on_log))
            if first.paused:
                second = module.train(cfg, TrainHooks(checkpoint_path=ckpt, resume=True, on_log=on_log))
                losses, metric = first.losses + second.losses, second.eval_metric
            else:  # finished (e.g. early stopping) before step k: nothing to resume
                losses, metric = first.losses, first.eval_metric
        same = losses == main.losses and metric == main.eval_metric
        detail = (f"{k} steps + checkpoint + resume reproduced the uninterrupted run bit for bit "
                  f"({len(losses)} losses, metric {metric})" if same else
                  f"resumed run differs: {len(losses)} vs {len(main.losses)} losses, first mismatch at step "
                  f"{next((i for i, (a, b) in enumerate(zip(losses, main.losses)) if a != b), min(len(losses), len(main.losses)))}"
                  f", metric {metric} vs {main.eval_metric}")
        resume = {"passed": same, "detail": detail, "checkpoint_step": k}
    t_end = time.time()

    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cuda_peak = torch.cuda.max_memory_allocated() / (1 << 20) if device.type == "cuda" else None
    return {
        "name": info.name, "device": device_info, "torch_version": torch.__version__,
        "python_version": platform.python_version(), "steps": len(main.losses), "amp": main.amp,
        "compiled": cfg.compile, "losses": main.losses, "metric_name": main.metric_name,
        "eval_metric": main.eval_metric,
        "throughput": main.items_processed / main.train_s if main.train_s > 0 else None,
        "throughput_unit": main.throughput_unit,
        "peak_rss_mb": round(max(rss_self, rss_children), 1), "cuda_max_allocated_mb": cuda_peak,
        "t_process": _T_PROCESS, "t_job": t_job, "t_train_begin": t_train_begin, "t_end": t_end,
        "compile_s": main.compile_s, "train_s": main.train_s, "eval_s": main.eval_s,
        "checks_s": t_end - t_train_begin - (main.compile_s + main.train_s + main.eval_s) if runs > 1 else 0.0,
        "determinism": determinism, "resume": resume, "warnings": warnings,
    }


def main() -> int:
    # Imported before "ready", so a warm worker has paid for them already. The first optimizer construction
    # imports torch._dynamo (~3 s on a small CPU), so that is imported here too.
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401

    import pytorch_patterns.reference_impls.common# noqa: F401

    emit("ready", import_s=time.time() - _T_PROCESS)
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the parent closed stdin without a job (a spare worker being retired)
    try:
        job = json.loads(line)
        report = run_job(job)
    except Exception as exc:  # noqa: BLE001 -- any failure becomes a structured error for the parent
        traceback.print_exc()
        emit("error", error=f"{type(exc).__name__}: {exc}")
        return 1
    emit("result", report=report)
    return 0


if __name__ == "__main__":
    code = main()
    # The result is out; skip interpreter finalization (torch's teardown takes seconds on a busy machine).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
