"""Compare a candidate module against a reference in the KernelBench convention.

The reference defines `Model`, `get_inputs()` and `get_init_inputs()`; the candidate defines `ModelNew` (or
`Model`). In a sandboxed child process (`python -m reference_impls.compare`):

1. both models are built from the reference's init inputs under the same weight seed;
2. over `trials` seeded trials, fresh inputs from the reference's `get_inputs()` go to each model (separate
   copies); outputs must match with allclose (atol = rtol = 1e-4 for fp32, 1e-2 for fp16/bf16);
3. results are refused when the candidate mutated its inputs, or when its output looks cached: the same tensor
   storage as the previous trial, or an unchanged output although the inputs and the reference's output changed;
4. edge cases: when the reference also defines `get_edge_inputs()` (a list whose items are input lists like
   `get_inputs()`, or `(description, inputs)` pairs: huge logits, masked rows, a batch of one, a non-contiguous
   input...), each must match too, within the same tolerance and with the same non-finite pattern (NaN and
   +-inf in the same places as the reference's); edge inputs keep their strides, and count for correctness only;
5. only a correct candidate is timed, on the first trial's inputs: warm-up, then `iters` calls each (CUDA events
   on GPU, perf_counter otherwise); the speed-up is reference time / candidate time (medians).

Importing this module does not import torch.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from reference_impls.sandbox import Isolation, run_child

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
    edge_cases: int = 0  # how many cases the reference's get_edge_inputs() defines (0: none)
    edge_cases_passed: int = 0
    max_abs_diff: float | None = None  # over the random trials
    problems: list[str] = []  # why the result is refused or incorrect
    reference_ms: float | None = None
    candidate_ms: float | None = None
    speedup: float | None = None
    timer: str | None = None  # "cuda-events" or "perf_counter"
    error: str | None = None
    killed_reason: str | None = None
    output_tail: str | None = None
    containment: str | None = None  # what the sandbox achieved for the child (see sandbox.Containment)


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
            cancel: threading.Event | None = None, isolation: Isolation | None = None,
            cwd: Path | None = None) -> CompareReport:
    """Run both modules in a sandboxed child. `isolation` (for untrusted candidates) makes every folder but its
    writable ones read-only; `cwd` is where the child runs."""
    options = options or CompareOptions()
    reference, candidate = Path(reference).resolve(), Path(candidate).resolve()
    for path in (reference, candidate):
        if not path.is_file():
            raise FileNotFoundError(f"no such module: {path}")
    # The candidate runs in the child and can print anything, a fake result line included: only events that
    # carry this run's nonce (sent on stdin, never on the command line) are believed.
    nonce = secrets.token_hex(16)
    job = {"reference": str(reference), "candidate": str(candidate), "options": options.model_dump(), "nonce": nonce}
    events: dict[str, dict] = {}

    def on_line(line: str) -> None:
        if line.startswith(PREFIX):
            try:
                event = json.loads(line[len(PREFIX):])
            except json.JSONDecodeError:
                return
            if isinstance(event, dict) and event.get("nonce") == nonce:
                events[event.get("event", "")] = event

    result = run_child([sys.executable, "-m", "reference_impls.compare"], timeout_s=options.timeout_s,
                       memory_mb=options.memory_mb, max_output_bytes=options.max_output_bytes, on_line=on_line,
                       cancel=cancel, stdin_data=(json.dumps(job) + "\n").encode(), isolation=isolation, cwd=cwd,
                       env=_child_env(cwd) if cwd is not None else None)
    base = {"reference": str(reference), "candidate": str(candidate), "killed_reason": result.killed_reason,
            "containment": result.containment}
    if "result" in events and result.killed_reason is None:
        return CompareReport(**base, **events["result"]["report"])
    tail = "\n".join(x for x in (result.stderr_tail[-4000:], result.stdout_tail[-2000:]) if x.strip())
    error = result.message or events.get("error", {}).get("error") or f"compare child exited {result.returncode}"
    return CompareReport(**base, error=error, output_tail=tail, problems=[error])


def _child_env(cwd: Path) -> dict[str, str]:
    """The caller's environment with home and temp folders moved into `cwd` (writable under isolation)."""
    return dict(os.environ, HOME=str(cwd), TMPDIR=str(cwd))


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


def _tolerance(r, c) -> float:
    """atol = rtol for comparing outputs: 1e-2 when either side is fp16/bf16, else 1e-4."""
    import torch

    low_precision = r.dtype in (torch.float16, torch.bfloat16) or c.dtype in (torch.float16, torch.bfloat16)
    return 1e-2 if low_precision else 1e-4


def _to_keeping_strides(values: list, device) -> list:
    """Copies on `device` with the same sizes and strides (a transposed or sliced view stays non-contiguous)."""
    import torch

    def copy(v):
        if not isinstance(v, torch.Tensor):
            return v
        return torch.empty_strided(v.size(), v.stride(), dtype=v.dtype, device=device).copy_(v)

    return [copy(v) for v in values]


def _edge_cases(ref_mod) -> list[tuple[str, list]]:
    """The reference's `get_edge_inputs()` as (description, inputs) pairs; [] when it defines none."""
    make = getattr(ref_mod, "get_edge_inputs", None)
    if make is None:
        return []
    cases = []
    for index, item in enumerate(make()):
        if (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], (list, tuple))):
            description, inputs = item
        elif isinstance(item, (list, tuple)):
            description, inputs = "", item
        else:
            raise TypeError(f"get_edge_inputs() item {index} is a {type(item).__name__}, expected a list of inputs "
                            "or a (description, inputs) pair")
        cases.append((description, list(inputs)))
    return cases


def _edge_mismatch(r, c, tol: float) -> str | None:
    """Why candidate output `c` does not match reference output `r` on an edge case, or None: finite values within
    atol = rtol = `tol`, NaN and +-inf exactly where the reference has them."""
    import torch

    if r.shape != c.shape:
        return f"shape {tuple(c.shape)}, expected {tuple(r.shape)}"
    r, c = r.float() if r.dtype in (torch.float16, torch.bfloat16) else r, c.to(r.dtype)
    if not (r.is_floating_point() or r.is_complex()):
        return None if torch.equal(r, c) else "differs"
    problems = []
    nan_where_finite = (c.isnan() & r.isfinite()).sum().item()
    if nan_where_finite:
        problems.append(f"NaN at {nan_where_finite} position(s) where the reference is finite")
    non_finite_r = ~r.isfinite()
    wrong_non_finite = (non_finite_r & ~((r == c) | (r.isnan() & c.isnan()))).sum().item()
    if wrong_non_finite:
        problems.append(f"{wrong_non_finite} of the reference's {non_finite_r.sum().item()} inf/NaN value(s) "
                        "not reproduced")
    inf_where_finite = (c.isinf() & r.isfinite()).sum().item()
    if inf_where_finite:
        problems.append(f"inf at {inf_where_finite} position(s) where the reference is finite")
    both_finite = r.isfinite() & c.isfinite()
    rf, cf = r[both_finite], c[both_finite]
    if rf.numel() and not torch.allclose(cf, rf, atol=tol, rtol=tol):
        diff = (rf.double() - cf.double()).abs().max().item()
        problems.append(f"differs (max |diff| {diff:.3g} > atol=rtol={tol:g})")
    return "; ".join(problems) or None


def _same_values(a, b) -> bool:
    """Equal, NaN included (edge inputs may hold NaN, and NaN != NaN)."""
    import torch

    if a.is_floating_point() or a.is_complex():
        return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.masked_fill(a.isnan(), 0), b.masked_fill(b.isnan(), 0))
    return torch.equal(a, b)


def _check_edge_cases(ref_model, cand_model, cases: list[tuple[str, list]], device) -> tuple[int, list[str]]:
    """Runs every edge case through both models; (cases passed, problems naming the failed cases)."""
    import torch

    passed, problems = 0, []
    for index, (description, raw_inputs) in enumerate(cases):
        name = f"edge case {index}" + (f" ({description})" if description else "")
        inputs = _to_keeping_strides(raw_inputs, device)
        with torch.no_grad():
            ref_out = [t.detach() for t in _flatten(ref_model(*_to_keeping_strides(inputs, device)))]
            cand_inputs = _to_keeping_strides(inputs, device)
            try:
                cand_out = [t.detach() for t in _flatten(cand_model(*cand_inputs))]
            except Exception as exc:  # noqa: BLE001 -- a candidate that cannot take the case fails the case
                problems.append(f"{name}: the candidate raised {type(exc).__name__}: {str(exc)[:200]}")
                continue
        if any(isinstance(a, torch.Tensor) and not _same_values(a, b) for a, b in zip(cand_inputs, inputs)):
            problems.append(f"{name}: the candidate modified its input(s) in place; result refused")
            continue
        if len(cand_out) != len(ref_out):
            problems.append(f"{name}: {len(cand_out)} outputs, the reference returns {len(ref_out)}")
            continue
        case_problems = []
        for i, (r, c) in enumerate(zip(ref_out, cand_out)):
            why = _edge_mismatch(r, c, _tolerance(r, c))
            if why:
                case_problems.append(f"output {i} {why}")
        if case_problems:
            problems.append(f"{name}: " + "; ".join(case_problems))
        else:
            passed += 1
    return passed, problems


def _stale_output_problem(ref_model, cand_model, ref_mod, device, seed: int) -> str | None:
    """Call the candidate, write new values into the SAME input tensors, call it again: an output cached by the
    inputs' address (data_ptr, shape, stride) comes back stale. Returns the problem, or None."""
    import torch

    torch.manual_seed(seed)
    inputs = _to(ref_mod.get_inputs(), device)
    fresh = _to(ref_mod.get_inputs(), device)
    with torch.no_grad():
        cand_model(*inputs)
        for tensor, new in zip(inputs, fresh):
            if isinstance(tensor, torch.Tensor) and isinstance(new, torch.Tensor) and tensor.shape == new.shape:
                tensor.copy_(new)  # same storage, new values
        ref_out = [t.detach() for t in _flatten(ref_model(*_clone(inputs)))]
        cand_out = [t.detach() for t in _flatten(cand_model(*inputs))]
    for r, c in zip(ref_out, cand_out):
        tol = _tolerance(r, c)
        if r.shape != c.shape or not torch.allclose(c.to(r.dtype), r, atol=tol, rtol=tol, equal_nan=True):
            return ("called again on the same input tensors holding new values, the candidate returned a wrong "
                    "(stale) output: results cached by address are refused")
    return None


def randomise_shared_parameters(ref_model, cand_model, seed: int) -> int:
    """Add the same noise to parameters the two models share (same order, same shapes): an initialisation such
    as LayerNorm's weight = 1, bias = 0 would otherwise hide a candidate that leaves the affine part out.
    Returns how many parameters were randomised (0 when the two models' parameters do not line up)."""
    import torch

    ref_params, cand_params = list(ref_model.parameters()), list(cand_model.parameters())
    if len(ref_params) != len(cand_params) or any(a.shape != b.shape for a, b in zip(ref_params, cand_params)):
        return 0
    g = torch.Generator().manual_seed(seed + 7919)
    with torch.no_grad():
        for a, b in zip(ref_params, cand_params):
            if not a.is_floating_point():
                continue
            spread = float(a.float().std()) if a.numel() > 1 else 0.0
            noise = torch.randn(a.shape, generator=g) * (0.5 * spread if spread > 0 else 0.5)
            a.add_(noise.to(a.device, a.dtype))
            b.add_(noise.to(b.device, b.dtype))
    return len(ref_params)


def run_compare(job: dict) -> dict:
    import statistics
    import time

    import torch

    from reference_impls.common import pick_device, sync

    opts = CompareOptions(**job["options"])
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = pick_device(opts.device)
    if device.type == "cuda":
        # fp32 means fp32 for both modules: cuDNN convolutions default to TF32 (10-bit mantissa), which put a
        # correct conv ~1e-3 off on H200 for channels_last inputs, ten times the tolerance.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
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
    randomise_shared_parameters(ref_model, cand_model, opts.seed)

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
            tol = _tolerance(r, c)
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
    if passed == opts.trials and not problems:
        stale = _stale_output_problem(ref_model, cand_model, ref_mod, device, opts.seed + opts.trials + 100)
        if stale:
            problems.append(stale)
    # Edge cases (from a seed of their own, so they do not shift the trials' inputs) only once the trials pass.
    torch.manual_seed(opts.seed + opts.trials + 1)
    edge_cases = _edge_cases(ref_mod)
    edge_passed = 0
    if edge_cases and passed == opts.trials and not problems:
        edge_passed, edge_problems = _check_edge_cases(ref_model, cand_model, edge_cases, device)
        problems.extend(edge_problems)
    correct = passed == opts.trials and not problems

    report = {"device": str(device), "dtype": dtype, "tolerance": tolerance, "correct": correct, "trials": opts.trials,
              "trials_passed": passed, "edge_cases": len(edge_cases), "edge_cases_passed": edge_passed,
              "max_abs_diff": max_diff, "problems": problems}
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

    nonce = ""
    try:
        job = json.loads(sys.stdin.readline())
        nonce = str(job.pop("nonce", ""))
        report = run_compare(job)
    except Exception as exc:  # noqa: BLE001 -- a broken module becomes a structured error for the parent
        traceback.print_exc()
        print(PREFIX + json.dumps({"event": "error", "error": f"{type(exc).__name__}: {exc}", "nonce": nonce}), flush=True)
        return 1
    print(PREFIX + json.dumps({"event": "result", "report": report, "nonce": nonce}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
