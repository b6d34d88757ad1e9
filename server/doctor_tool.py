"""The `diagnose_training_run` MCP tool: run a training script under the doctor's probes, return its report.

Registered by `server/app.py` with `register(tool, roots)`. The script must lie under the server's roots (or the
client's workspace roots); it runs in a child process group (the sandbox), which is killed when the request is
cancelled. Progress is reported from the first second (then every half second: optimizer steps done).
torch is never imported here.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from pytorch_patterns.reference_impls.doctor import DoctorCancelled, DoctorOptions, DoctorReport, diagnose

MAX_SERIES_POINTS = 200
MAX_TAIL_CHARS = 4000


class DiagnoseInput(BaseModel):
    path: str = Field(max_length=4096, description="The training script, a .py file inside the workspace roots.")
    args: list[Annotated[str, Field(max_length=4096)]] = Field(default_factory=list, max_length=256,
                                                               description="Arguments for the script.")
    steps: int = Field(20, ge=1, le=10_000, description="Stop after this many optimizer steps.")
    timeout_s: float = Field(300, gt=0, le=3600, description="Wall-clock limit for each run of the script.")
    device: str | None = Field(None, max_length=32, description="Sets CUDA_VISIBLE_DEVICES only: cpu, cuda:N or N.")
    check_determinism: bool = Field(False, description="Run twice and compare losses and final weights.")
    resume_args: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        None, max_length=64, description="Arguments that make the script resume from its checkpoint: run N steps, "
                                         "N/2 steps, resume for N/2 and compare.")
    profile: bool = Field(False, description="Top operators from torch.profiler (CUDA memory summary on GPU).")
    nproc: int = Field(1, ge=1, le=8, description="Processes under torchrun (gloo on CPU).")


def _message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"invalid {'.'.join(str(x) for x in first['loc']) or 'input'}: {first['msg']}"


def _fit(report: DoctorReport) -> DoctorReport:
    """Keep the report small for a context window: series thinned to MAX_SERIES_POINTS, output tail cut."""
    s = report.series
    n = len(s.step)
    update = {}
    if n > MAX_SERIES_POINTS:
        idx = sorted({round(i * (n - 1) / (MAX_SERIES_POINTS - 1)) for i in range(MAX_SERIES_POINTS)})
        update["series"] = s.model_copy(update={k: [getattr(s, k)[i] for i in idx] for k in type(s).model_fields})
    if report.output_tail and len(report.output_tail) > MAX_TAIL_CHARS:
        update["output_tail"] = report.output_tail[-MAX_TAIL_CHARS:]
    return report.model_copy(update=update) if update else report


async def diagnose_training_run(ctx: Context, roots, request: DiagnoseInput) -> DoctorReport:
    """Validate the path against the roots, run the doctor in a worker thread (its child in a process group),
    relay progress, kill the child on cancellation."""
    script = await roots.resolve(request.path, ctx)
    if script.suffix != ".py":
        raise ToolError(f"{request.path} is not a .py script; pass the training script itself")
    try:
        options = DoctorOptions(steps=request.steps, timeout_s=request.timeout_s, device=request.device,
                                check_determinism=request.check_determinism, resume_args=request.resume_args,
                                profile=request.profile, nproc=request.nproc)
    except ValidationError as exc:
        raise ToolError(_message(exc)) from None
    cancel = threading.Event()
    loop = asyncio.get_running_loop()

    def progress(done: float, total: float | None, message: str) -> None:
        # called from the doctor's watcher thread (not an anyio worker): hand the coroutine to the server's loop
        try:
            asyncio.run_coroutine_threadsafe(ctx.report_progress(done, total, message), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 -- progress is best effort (client gone, request cancelled)
            pass

    await ctx.report_progress(0, request.steps, f"starting {script.name} under the doctor")
    try:
        report = await anyio.to_thread.run_sync(
            lambda: diagnose(script, request.args, options, progress=progress, cancel=cancel), abandon_on_cancel=True)
    except DoctorCancelled:
        raise ToolError("the doctor run was cancelled") from None
    finally:
        cancel.set()  # no-op after a normal finish; kills the child's process group when cancelled
    if not report.ok and report.error_kind in ("missing", "bad-options"):
        raise ToolError(report.error or "bad input")
    return _fit(report)


def _as_result(report: DoctorReport):
    """Compact text for the model (the same summary the terminal shows) plus the report as structured content;
    a run that never reached a step, crashed or timed out is an error result."""
    import io

    from pytorch_patterns.reference_impls.doctor.report import render_text

    buf = io.StringIO()
    render_text(report, buf)
    text = buf.getvalue().strip()
    if len(text) > 28_000:
        text = text[:28_000] + "\n... [cut]"
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=report.model_dump(mode="json", exclude_none=True), is_error=not report.ok)


def register(tool, roots, slots=None) -> None:
    """Add the tool to the server (`tool` is app.py's decorator factory, `roots` its Roots, `slots` its RunSlots)."""

    @tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                      open_world_hint=False), title="Diagnose a training run", name="diagnose_training_run")
    async def diagnose_training_run_tool(
        ctx: Context,
        path: Annotated[str, Field(description="The training script, a .py file inside the workspace roots.")],
        args: Annotated[list[str] | None, Field(description="Arguments for the script.")] = None,
        steps: Annotated[int, Field(ge=1, le=10_000, description="Optimizer steps to run (default 20).")] = 20,
        timeout_s: Annotated[float, Field(gt=0, le=3600, description="Wall-clock limit for each run of the script.")] = 300,
        check_determinism: Annotated[bool, Field(description="Run twice, compare losses and final weights (2x time).")] = False,
        resume_args: Annotated[list[str] | None, Field(description="Arguments that make the script resume.")] = None,
        profile: Annotated[bool, Field(description="Top operators from torch.profiler.")] = False,
        device: Annotated[str | None, Field(description="cpu, cuda:N or N (sets CUDA_VISIBLE_DEVICES).")] = None,
        nproc: Annotated[int, Field(ge=1, le=8, description="Processes under torchrun.")] = 1,
    ) -> CallToolResult:
        """Run the user's own training script for a few optimizer steps under runtime probes and report the
        silent bugs static review cannot see (PT-RUN codes): evaluation in training mode, double steps,
        gradients carried over, misaligned accumulation, parameters that never train, the first NaN and its
        module, a diverging loss, an LR far off for its optimizer, clipping of scaled gradients, loader order
        repeating, constant labels, input-bound steps, LR schedules collapsing, host syncs, recompilations;
        determinism and resume when asked. Returns findings with file, line, step and evidence, plus loss /
        LR / grad-norm / update-ratio series. The script runs in a child process (killed on cancellation).
        Use after writing or changing a training loop, when a model does not learn, before a long run.
        """
        try:
            request = DiagnoseInput(path=path, args=args or [], steps=steps, timeout_s=timeout_s,
                                    check_determinism=check_determinism, resume_args=resume_args,
                                    profile=profile, device=device, nproc=nproc)
        except ValidationError as exc:
            raise ToolError(_message(exc)) from None
        if slots is not None and slots._active >= slots.n:
            raise ToolError(f"busy: {slots._active} run(s) already in progress; retry when it finishes")
        return _as_result(await diagnose_training_run(ctx, roots, request))
