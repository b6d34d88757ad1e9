"""Compare a candidate module against a reference in the KernelBench convention.

The reference defines `Model`, `get_inputs()` and `get_init_inputs()`; the candidate defines `ModelNew` (or
`Model`). In a sandboxed child process (`python -m reference_impls.compare`):

1. both models are built from the reference's init inputs under the same weight seed;
2. over `trials` seeded trials, fresh inputs from the reference's `get_inputs()` go to each model (separate
   copies); outputs must match with allclose (atol = rtol = 1e-4 for fp32, 1e-2 for fp16/bf16);
3. results are refused when the candidate mutated its inputs, or when its output looks cached: the same tensor
   storage as the previous trial, or an unchanged output although the inputs and the reference's output changed;
4. only a correct candidate is timed: warm-up, then `iters` calls each (CUDA events on GPU, perf_counter
   otherwise); the speed-up is reference time / candidate time (medians).

Importing this module does not import torch.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from reference_impls.sandbox import run_child

KERNELS_DIR = Path(__file__).resolve().parent / "kernels"
PREFIX = "@@ptp-compare "


class CompareOptions(BaseModel):
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    trials: int = Field(5, ge=1)
    seed: int = 42
    warmup: int = Field(3, ge=0)
    iters: int = Field(20, ge=1)
    threads: int | None = Field(None, ge=1)
    timeout_s: float = Field(300.0, gt=0)
    memory_mb: int | None = Field(6144, ge=64)
    max_output_bytes: int = 32_000


class CompareReport(BaseModel):
    reference: str
    candidate: str
    device: str | None = None
    dtype: str | None = None
    tolerance: float | None = None
    correct: bool = False
    trials: int = 0
    trials_passed: int = 0
    max_abs_diff: float | None = None
    problems: list[str] = []  # why the result is refused or incorrect
    reference_ms: float | None = None
    candidate_ms: float | None = None
    speedup: float | None = None
    timer: str | None = None  # "cuda-events" or "perf_counter"
    error: str | None = None
    killed_reason: str | None = None
    output_tail: str | None = None


def list_kernel_references() -> list[Path]:
    return sorted(p for p in KERNELS_DIR.glob("*.py") if p.name != "__init__.py")


def summary(path: Path) -> str:
    from reference_impls.registry import docstring_summary

    return docstring_summary(path)


def resolve_reference(name_or_path: str) -> Path:
    """A path, or the name of a shipped reference (`softmax_rows`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = KERNELS_DIR / f"{name_or_path}.py"
    if shipped.is_file():
        return shipped
    names = ", ".join(p.stem for p in list_kernel_references())
    raise FileNotFoundError(f"no reference module {name_or_path!r} (not a file; shipped references: {names})")


def compare(reference: Path, candidate: Path, options: CompareOptions | None = None, *,
            cancel: threading.Event | None = None) -> CompareReport:
    options = options or CompareOptions()
    reference, candidate = Path(reference).resolve(), Path(candidate).resolve()
    for path in (reference, candidate):
        if not path.is_file():
            raise FileNotFoundError(f"no such module: {path}")
    job = {"reference": str(reference), "candidate": str(candidate), "options": options.model_dump()}
    events: dict[str, dict] = {}

    def on_line(line: str) -> None:
        if line.startswith(PREFIX):
            try:
                event = json.loads(line[len(PREFIX):])
            except json.JSONDecodeError:
                return
            events[event.get("event", "")] = event

    result = run_child([sys.executable, "-m", "reference_impls.compare"], timeout_s=options.timeout_s,
                       memory_mb=options.memory_mb, max_output_bytes=options.max_output_bytes, on_line=on_line,
                       cancel=cancel, stdin_data=(json.dumps(job) + "\n").encode())
    base = {"reference": str(reference), "candidate": str(candidate), "killed_reason": result.killed_reason}
    if "result" in events and result.killed_reason is None:
        return CompareReport(**base, **events["result"]["report"])
    tail = "\n".join(x for x in (result.stderr_tail[-4000:], result.stdout_tail[-2000:]) if x.strip())
    error = result.message or events.get("error", {}).get("error") or f"compare child exited {result.returncode}"
    return CompareReport(**base, error=error, output_tail=tail, problems=[error])


# ---------------------------------------------------------------- child side


def _load(path: str, module_name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _flatten(out) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _flatten(item)]
    raise TypeError(f"outputs must be tensors or tuples/lists of tensors, got {type(out).__name__}")


def _clone(values: list) -> list:
    import torch

    return [v.clone() if isinstance(v, torch.Tensor) else v for v in values]


def _to(values: list, device) -> list:
    import torch

    return [v.to(device) if isinstance(v, torch.Tensor) else v for v in values]


def run_compare(job: dict) -> dict:
    import statistics
    import time

    import torch

    from reference_impls.common import pick_device, sync

    opts = CompareOptions(**job["options"])
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = pick_device(opts.device)
    ref_mod = _load(job["reference"], "ptp_reference")
    cand_mod = _load(job["candidate"], "ptp_candidate")
    for attr in ("Model", "get_inputs", "get_init_inputs"):
        if not hasattr(ref_mod, attr):
            raise AttributeError(f"the reference module defines no {attr}")
    cand_cls = getattr(cand_mod, "ModelNew", None) or getattr(cand_mod, "Model", None)
    if cand_cls is None:
        raise AttributeError("the candidate module defines neither ModelNew nor Model")

    torch.manual_seed(opts.seed)
    init_inputs = ref_mod.get_init_inputs()
    torch.manual_seed(opts.seed)  # the same weight seed for both models
    ref_model = ref_mod.Model(*init_inputs).to(device)
    torch.manual_seed(opts.seed)
    cand_model = cand_cls(*init_inputs).to(device)

    problems: list[str] = []
    passed = 0
    max_diff = 0.0
    dtype = None
    tolerance = None
    prev_cand = prev_ref = None
    prev_ptrs: list[int] = []
    timing_inputs = None
    for trial in range(opts.trials):
        torch.manual_seed(opts.seed + 1 + trial)
        inputs = _to(ref_mod.get_inputs(), device)
        pristine = _clone(inputs)
        with torch.no_grad():
            ref_out = [t.detach() for t in _flatten(ref_model(*_clone(inputs)))]
            cand_inputs = _clone(inputs)
            cand_out = [t.detach() for t in _flatten(cand_model(*cand_inputs))]
        if timing_inputs is None:
            timing_inputs = pristine
        mutated = [i for i, (a, b) in enumerate(zip(cand_inputs, pristine))
                   if isinstance(a, torch.Tensor) and not torch.equal(a, b)]
        if mutated:
            problems.append(f"trial {trial}: the candidate modified its input(s) {mutated} in place; result refused")
            break
        if len(cand_out) != len(ref_out):
            problems.append(f"trial {trial}: {len(cand_out)} outputs, the reference returns {len(ref_out)}")
            break
        ptrs = [t.data_ptr() for t in cand_out]
        if prev_cand is not None:
            same_storage = any(p == q and p != 0 for p, q in zip(ptrs, prev_ptrs))
            ref_changed = any(not torch.equal(a, b) for a, b in zip(ref_out, prev_ref))
            cand_unchanged = all(torch.equal(a, b) for a, b in zip(cand_out, prev_cand))
            if same_storage or (ref_changed and cand_unchanged):
                problems.append(f"trial {trial}: the candidate returned its previous output again (cached between "
                                "trials); result refused")
                break
        prev_cand, prev_ref, prev_ptrs = [t.clone() for t in cand_out], [t.clone() for t in ref_out], ptrs
        trial_ok = True
        for i, (r, c) in enumerate(zip(ref_out, cand_out)):
            if r.shape != c.shape:
                problems.append(f"trial {trial}: output {i} has shape {tuple(c.shape)}, expected {tuple(r.shape)}")
                trial_ok = False
                continue
            low_precision = r.dtype in (torch.float16, torch.bfloat16) or c.dtype in (torch.float16, torch.bfloat16)
            tol = 1e-2 if low_precision else 1e-4
            tolerance = max(tolerance or 0.0, tol)
            dtype = str(r.dtype).replace("torch.", "")
            diff = (r.float() - c.float()).abs().max().item() if r.numel() else 0.0
            max_diff = max(max_diff, diff)
            if not torch.allclose(c.to(r.dtype), r, atol=tol, rtol=tol):
                problems.append(f"trial {trial}: output {i} differs (max |diff| {diff:.3g} > atol=rtol={tol:g})")
                trial_ok = False
        if not trial_ok:
            break
        passed += 1
    correct = passed == opts.trials and not problems

    report = {"device": str(device), "dtype": dtype, "tolerance": tolerance, "correct": correct, "trials": opts.trials,
              "trials_passed": passed, "max_abs_diff": max_diff, "problems": problems}
    if not correct:
        return report

    def time_model(model) -> float:
        with torch.no_grad():
            for _ in range(opts.warmup):
                model(*timing_inputs)
            sync(device)
            samples = []
            for _ in range(opts.iters):
                if device.type == "cuda":
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    model(*timing_inputs)
                    end.record()
                    end.synchronize()
                    samples.append(start.elapsed_time(end))
                else:
                    t0 = time.perf_counter()
                    model(*timing_inputs)
                    sync(device)
                    samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)

    # Interleaved to even out drift (clocks, other load): ref, cand, ref, cand; the better of each pair counts.
    ref_first, cand_first = time_model(ref_model), time_model(cand_model)
    ref_ms, cand_ms = min(ref_first, time_model(ref_model)), min(cand_first, time_model(cand_model))
    report.update(reference_ms=ref_ms, candidate_ms=cand_ms, speedup=ref_ms / cand_ms if cand_ms > 0 else None,
                  timer="cuda-events" if device.type == "cuda" else "perf_counter")
    return report


def _child_main() -> int:
    import traceback

    try:
        job = json.loads(sys.stdin.readline())
        report = run_compare(job)
    except Exception as exc:  # noqa: BLE001 -- a broken module becomes a structured error for the parent
        traceback.print_exc()
        print(PREFIX + json.dumps({"event": "error", "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(PREFIX + json.dumps({"event": "result", "report": report}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
