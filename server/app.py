"""The pytorch-patterns MCP server: thin tools over `skill/` and `reference_impls/`.

Every tool validates its input with pydantic, delegates to the core library, and turns problems the
model can fix into `ToolError` messages (the only exception text an MCP client shows the model).
Work that runs torch happens in a child process (the runner's sandbox): cancelling the request, or
the client timing out, kills the child's whole process group. torch is never imported here.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field, ValidationError

from pytorch_patterns import __version__
from reference_impls.compare import CompareOptions, CompareReport, compare
from reference_impls.registry import ImplInfo, list_impls
from reference_impls.runner import RunCancelled, RunOptions, RunReport, run_reference
from skill import generate as gen
from skill.generate import GeneratedCode
from skill.generate.specs import CheckpointSpec, DatasetSpec, TrainLoopSpec
from skill.review import SourceParseError, review_source
from skill.review.catalogue import RuleInfo, find_rule, rule_doc_markdown, rule_info
from skill.review.rule import all_rules, first_unknown_code

from .schemas import (
    CompareInput,
    ReviewInput,
    ReviewResult,
    RunInput,
    paginate_findings,
)

log = logging.getLogger("pytorch_patterns.server")

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "skill" / "docs"
SKILL_MD = REPO_ROOT / "SKILL.md"
MAX_SOURCE_CHARS = 2_000_000  # review_code input cap: larger text is refused with a clear message

INSTRUCTIONS = """\
Tools for writing PyTorch the way practitioners do.
- review_code: static review of PyTorch source (or a file under the workspace roots) against the rule
  catalogue; findings carry rule codes, lines and fixes. explain_rule gives one rule's doc.
- generate_training_loop / generate_dataset / generate_checkpointing: complete, pattern-correct code from
  a typed spec, with the rationale of each choice.
- list_reference_impls / run_reference_impl: canonical implementations, run and measured on this machine
  (loss curve, throughput, determinism and resume verdicts).
- compare_implementations: KernelBench-style check of a candidate module against a reference
  (correctness over seeded trials, then speed).
Resources: pattern docs (pytorch-patterns://docs/...), rule docs (pytorch-patterns://rules/{code}),
reference sources (pytorch-patterns://reference/{name}).
"""

class RuleDoc(RuleInfo):
    anchor: str = Field(description="The line a finding of this rule is reported on, shown on the rule's bad example.")


def rule_anchor(rule) -> str:
    """Where the reviewer anchors this rule's finding: reviewed on its own bad example, the lines it reports."""
    general = ("A finding is reported on the first line of the statement the rule is about; for a call, the line "
               "of the called name.")
    try:
        found = sorted({f.line for f in review_source(rule.bad, "bad.py", select=[rule.code]) if f.rule == rule.code})
    except SourceParseError:
        found = []
    if not found:
        return general
    lines = rule.bad.splitlines()
    shown = "; ".join(f"line {n}: `{lines[n - 1].strip()}`" for n in found if 0 < n <= len(lines))
    return f"{general} In the bad example: {shown}."


READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


class Roots:
    """Where review_code and compare_implementations may read files from."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = [d.resolve() for d in dirs]

    async def allowed(self, ctx: Context | None) -> list[Path]:
        dirs = list(self.dirs)
        if ctx is not None:
            dirs.extend(await _client_roots(ctx))
        return dirs

    async def resolve(self, raw: str, ctx: Context | None) -> Path:
        allowed = await self.allowed(ctx)
        if "\x00" in raw:
            raise ToolError("path contains a null byte; pass a plain file path")
        p = Path(raw).expanduser()
        if not p.is_absolute():
            p = (allowed[0] if allowed else Path.cwd()) / p
        try:
            real = p.resolve()  # symlinks resolved: a link inside a root that points outside is refused
        except (OSError, RuntimeError, ValueError):
            raise ToolError(f"path {raw!r} cannot be resolved; pass the source text instead") from None
        if not any(real == d or d in real.parents for d in allowed):  # confinement first: no existence leak
            roots = ", ".join(str(d) for d in allowed) or "(none)"
            raise ToolError(f"path {raw!r} is outside the allowed directories ({roots}); pass the source text instead")
        if not real.exists():
            raise ToolError(f"path {raw!r} does not exist (relative paths are taken from {allowed[0] if allowed else Path.cwd()})")
        if not real.is_file():
            raise ToolError(f"path {raw!r} is not a file")
        return real


async def _client_roots(ctx: Context) -> list[Path]:
    """The client's workspace roots, when it declares the (legacy) roots capability."""
    caps = ctx.client_capabilities
    if caps is None or getattr(caps, "roots", None) is None:
        return []
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with anyio.fail_after(5):
                result = await ctx.session.list_roots()
    except Exception as exc:  # noqa: BLE001 -- roots are optional; fall back to the server's own dirs
        log.info("roots/list failed: %r", exc)
        return []
    out = []
    for root in result.roots:
        uri = str(root.uri)
        if uri.startswith("file://"):
            from urllib.parse import unquote, urlparse

            out.append(Path(unquote(urlparse(uri).path)).resolve())
    return out


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "input"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid input: " + "; ".join(parts)


def build_server(root_dirs: list[Path] | None = None) -> MCPServer:
    roots = Roots(root_dirs or [Path.cwd()])
    mcp = MCPServer(
        name="pytorch-patterns",
        title="PyTorch patterns",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )

    def tool(**kw):
        """`mcp.tool` with the docstring dedented into the description the model reads."""

        def deco(fn):
            mcp.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), **kw)
            return fn

        return deco

    # ------------------------------------------------------------------ review
    @tool(annotations=READ_ONLY, title="Review PyTorch code")
    async def review_code(
        ctx: Context,
        source: Annotated[str | None, Field(description="Python source to review (or give `path`).")] = None,
        path: Annotated[str | None, Field(description="A .py/.ipynb file inside the workspace roots.")] = None,
        filename: Annotated[str | None, Field(description="Name to report for `source` (e.g. train.py).")] = None,
        select: Annotated[list[str] | None, Field(description="Rule codes or prefixes to run (default: all default-on rules).")] = None,
        ignore: Annotated[list[str] | None, Field(description="Rule codes or prefixes to skip.")] = None,
        offset: Annotated[int, Field(ge=0, description="Skip this many findings (pagination).")] = 0,
        limit: Annotated[int, Field(ge=1, le=200, description="Findings per page.")] = 50,
    ) -> ReviewResult:
        """Statically review PyTorch code for training-loop, device, autograd, data, AMP and checkpoint anti-patterns.

        Returns findings (rule code, line, message, severity, fix edits when mechanical). Never runs the code.
        """
        try:
            req = ReviewInput(source=source, path=path, filename=filename, select=select, ignore=ignore, offset=offset, limit=limit)
        except ValidationError as exc:
            raise ToolError(_validation_message(exc)) from None
        bad = first_unknown_code([*(req.select or []), *(req.ignore or [])])
        if bad is not None:
            raise ToolError(f"unknown rule code or prefix {bad!r}; call explain_rule or read pytorch-patterns://rules for the list")
        if req.path is not None:
            file = await roots.resolve(req.path, ctx)
            if file.stat().st_size > MAX_SOURCE_CHARS:
                raise ToolError(f"{req.path} is larger than {MAX_SOURCE_CHARS} bytes; review a smaller file")
            data: str | bytes = file.read_bytes()
            name = str(file)
        else:
            data = req.source or ""
            name = req.filename or "<source>"
        try:
            findings = review_source(data, name, select=req.select, ignore=req.ignore)
        except SourceParseError as exc:
            err = exc.error
            where = f" at line {err.line}" + (f", column {err.col}" if err.col else "") if err.line else ""
            raise ToolError(f"cannot review {name}: {err.message}{where}. Fix the syntax and call again.") from None
        return paginate_findings(findings, req.offset, req.limit)

    @tool(annotations=READ_ONLY, title="Explain a rule")
    def explain_rule(
        code: Annotated[str, Field(max_length=100, description="Rule code (PT-GRAD002) or name (missing-zero-grad).")],
    ) -> RuleDoc:
        """One rule's documentation: what it flags, why it is wrong, the fix, bad/good code, and its anchor line
        (where in the bad example the reviewer reports the finding)."""
        rule = find_rule(code)
        if rule is None:
            codes = ", ".join(r.code for r in all_rules())
            raise ToolError(f"no rule {code!r}. Known codes: {codes}")
        return RuleDoc(**rule_info(rule).model_dump(), anchor=rule_anchor(rule))

    # ------------------------------------------------------------------ generators
    def _generate(fn, spec) -> GeneratedCode:
        try:
            return fn(spec)
        except (ValueError, ValidationError) as exc:
            msg = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            raise ToolError(msg) from None

    @tool(annotations=READ_ONLY, title="Generate a training script")
    def generate_training_loop(spec: TrainLoopSpec) -> GeneratedCode:
        """A complete, runnable, pattern-correct training script for the spec (task, optimizer, schedule, AMP,
        accumulation, clipping, compile, early stopping, checkpoint/resume, DDP, EMA), plus the rationale.

        Every generated script accepts --synthetic-data so it can be smoke-tested anywhere.
        """
        return _generate(gen.generate_train_loop, spec)

    @tool(annotations=READ_ONLY, title="Generate a Dataset and DataLoaders")
    def generate_dataset(spec: DatasetSpec) -> GeneratedCode:
        """Dataset, collate function and DataLoader settings that fit the data source and device, plus the rationale."""
        return _generate(gen.generate_dataset, spec)

    @tool(annotations=READ_ONLY, title="Generate checkpoint save/resume code")
    def generate_checkpointing(spec: CheckpointSpec) -> GeneratedCode:
        """Checkpoint save/load code: full training state, atomic writes, keep-last-N, weights_only loading."""
        return _generate(gen.generate_checkpoint, spec)

    # ------------------------------------------------------------------ reference implementations
    @tool(annotations=READ_ONLY, title="List reference implementations")
    def list_reference_impls() -> list[ImplInfo]:
        """The canonical implementations that run_reference_impl can run, one line each."""
        return list_impls()

    @tool(
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
        title="Run a reference implementation",
    )
    async def run_reference_impl(
        ctx: Context,
        name: Annotated[str, Field(max_length=100, description="Implementation name (see list_reference_impls).")],
        device: Literal["auto", "cpu", "cuda", "mps"] = "auto",
        steps: Annotated[int | None, Field(ge=1, le=100_000, description="Training steps (default: the smoke size).")] = None,
        seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
        amp: Literal["none", "bf16", "fp16"] = "none",
        compile: bool = False,
        check_determinism: bool = False,
        check_resume: bool = False,
        timeout_s: Annotated[float, Field(gt=0, le=3600)] = 600,
    ) -> RunReport:
        """Train a reference implementation in a child process on this machine and measure it.

        Returns the RunReport: device, loss curve, eval metric, throughput, peak memory, time split, and the
        determinism / resume verdicts when asked. Reports progress; cancelling kills the run.
        """
        names = [i.name for i in list_impls()]
        if name not in names:
            raise ToolError(f"no reference implementation {name!r}; choose one of: {', '.join(names)}")
        try:
            req = RunInput(name=name, device=device, steps=steps, seed=seed, amp=amp, compile=compile,
                           check_determinism=check_determinism, check_resume=check_resume, timeout_s=timeout_s)
            fields = {k: v for k, v in req.model_dump().items() if k != "name" and v is not None}
            options = RunOptions(**{k: v for k, v in fields.items() if k in RunOptions.model_fields})
        except ValidationError as exc:
            raise ToolError(_validation_message(exc)) from None
        report = await _in_child_thread(ctx, lambda progress, cancel: run_reference(name, options, progress=progress, cancel=cancel))
        return _fit_report(report)

    @tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
        title="Compare a candidate implementation with a reference",
    )
    async def compare_implementations(
        ctx: Context,
        reference_source: Annotated[str | None, Field(description="Reference module source: defines Model, get_inputs(), get_init_inputs().")] = None,
        candidate_source: Annotated[str | None, Field(description="Candidate module source: defines ModelNew (or Model).")] = None,
        reference_path: Annotated[str | None, Field(description="Or a reference file inside the workspace roots.")] = None,
        candidate_path: Annotated[str | None, Field(description="Or a candidate file inside the workspace roots.")] = None,
        device: Literal["auto", "cpu", "cuda", "mps"] = "auto",
        trials: Annotated[int, Field(ge=1, le=50)] = 5,
        timeout_s: Annotated[float, Field(gt=0, le=3600)] = 300,
    ) -> CompareReport:
        """KernelBench-style check: the candidate must match the reference over seeded trials (allclose), then both
        are timed after warm-up and the speed-up is reported. The candidate runs in a child process.
        """
        try:
            req = CompareInput(reference_source=reference_source, candidate_source=candidate_source,
                               reference_path=reference_path, candidate_path=candidate_path,
                               device=device, trials=trials, timeout_s=timeout_s)
        except ValidationError as exc:
            raise ToolError(_validation_message(exc)) from None
        with tempfile.TemporaryDirectory(prefix="pp-compare-") as tmp:
            ref = await roots.resolve(req.reference_path, ctx) if req.reference_path else _write(tmp, "reference.py", req.reference_source)
            cand = await roots.resolve(req.candidate_path, ctx) if req.candidate_path else _write(tmp, "candidate.py", req.candidate_source)
            try:
                fields = {"device": req.device, "trials": req.trials, "timeout_s": req.timeout_s}
                options = CompareOptions(**{k: v for k, v in fields.items() if k in CompareOptions.model_fields})
            except ValidationError as exc:
                raise ToolError(_validation_message(exc)) from None
            return await _in_child_thread(ctx, lambda progress, cancel: compare(ref, cand, options, cancel=cancel))

    # ------------------------------------------------------------------ resources
    _register_resources(mcp)
    _register_prompts(mcp)
    return mcp


MAX_CURVE_POINTS = 200
MAX_TAIL_CHARS = 4000


def _fit_report(report: RunReport) -> RunReport:
    """Keep a run report small enough for a context window: the loss curve is thinned to at most
    MAX_CURVE_POINTS evenly spaced points (first and last kept) and output tails are cut."""
    update: dict[str, Any] = {}
    losses = report.losses
    if len(losses) > MAX_CURVE_POINTS:
        idx = sorted({round(i * (len(losses) - 1) / (MAX_CURVE_POINTS - 1)) for i in range(MAX_CURVE_POINTS)})
        update["losses"] = [losses[i] for i in idx]
        update["warnings"] = [*report.warnings, f"loss curve thinned from {len(losses)} to {len(idx)} evenly spaced points"]
    if report.output_tail and len(report.output_tail) > MAX_TAIL_CHARS:
        update["output_tail"] = report.output_tail[-MAX_TAIL_CHARS:]
    return report.model_copy(update=update) if update else report


def _write(tmp: str, name: str, text: str | None) -> Path:
    p = Path(tmp) / name
    p.write_text(text or "", encoding="utf-8")
    return p


async def _in_child_thread(ctx: Context, job):
    """Run a blocking runner call in a worker thread, relaying progress and honouring cancellation.

    The runner does its torch work in a child process group; on cancellation (client cancel or
    timeout) the event is set and the runner kills that group before the thread returns.
    """
    cancel = threading.Event()
    token = anyio.lowlevel.current_token()

    def progress(done: float, total: float | None, message: str) -> None:
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message, token=token)
        except Exception:  # noqa: BLE001 -- progress is best effort (client gone, request cancelled)
            pass

    try:
        return await anyio.to_thread.run_sync(lambda: job(progress, cancel), abandon_on_cancel=True)
    except RunCancelled:
        raise ToolError("the run was cancelled") from None
    except (ValueError, FileNotFoundError) as exc:
        raise ToolError(str(exc)) from None
    finally:
        cancel.set()  # no-op after a normal finish; kills the child process group when cancelled


def _register_resources(mcp: MCPServer) -> None:
    from mcp.server.mcpserver.resources import FunctionResource

    def text_of(path: Path):
        return lambda: path.read_text(encoding="utf-8")

    if SKILL_MD.exists():
        mcp.add_resource(FunctionResource(uri="pytorch-patterns://skill", name="SKILL.md", title="The pytorch-patterns skill",
                                          description="The skill's guidance and decision guide.", mime_type="text/markdown", fn=text_of(SKILL_MD)))
    for doc in sorted(DOCS_DIR.glob("*.md")):
        mcp.add_resource(FunctionResource(uri=f"pytorch-patterns://docs/{doc.stem}", name=f"docs/{doc.name}", title=_title(doc),
                                          description=f"Pattern doc: {doc.stem.replace('-', ' ')}", mime_type="text/markdown", fn=text_of(doc)))
    for rule in all_rules():
        mcp.add_resource(FunctionResource(uri=f"pytorch-patterns://rules/{rule.code}", name=f"{rule.code} {rule.name}", title=f"{rule.code} {rule.name}",
                                          description=rule.summary, mime_type="text/markdown", fn=(lambda r=rule: rule_doc_markdown(r))))
    from reference_impls.registry import source_path

    for impl in list_impls():
        mcp.add_resource(FunctionResource(uri=f"pytorch-patterns://reference/{impl.name}", name=f"reference/{impl.name}", title=impl.name,
                                          description=impl.summary, mime_type="text/x-python", fn=text_of(source_path(impl.name))))


def _title(doc: Path) -> str:
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return doc.stem


def _register_prompts(mcp: MCPServer) -> None:
    @mcp.prompt(name="review-pytorch-file", title="Review this PyTorch file")
    def review_pytorch_file(path: str) -> str:
        """Review a PyTorch file with the reviewer, then explain and fix what it finds."""
        return (
            f"Review the PyTorch file `{path}`.\n"
            "1. Call the `review_code` tool with this path (or with its source).\n"
            "2. For each finding, read the rule with `explain_rule` if the fix is not obvious, and explain in one line "
            "why it matters for this code.\n"
            "3. Propose the corrected code; apply mechanical fixes exactly as the finding's fix edits describe.\n"
            "4. Call `review_code` again on the corrected code and confirm zero findings."
        )

    @mcp.prompt(name="write-training-script", title="Write a training script for ...")
    def write_training_script(task: str) -> str:
        """Write a pattern-correct training script for the described task."""
        return (
            f"Write a PyTorch training script for: {task}\n"
            "1. Choose a TrainLoopSpec that fits (task kind, optimizer, schedule, AMP only where the hardware supports it, "
            "checkpoint/resume) and call `generate_training_loop`.\n"
            "2. Adapt the generated model and data-loading code to the task; keep seeding, train/eval modes, no_grad "
            "evaluation, device handling and the full checkpoint.\n"
            "3. Call `review_code` on the result and fix any finding.\n"
            "4. Tell the user how to smoke-test it: `python train.py --synthetic-data --max-steps 20`."
        )

    @mcp.prompt(name="make-loop-faster", title="Make this loop faster")
    def make_loop_faster(code: str) -> str:
        """Speed up a PyTorch training loop without changing what it computes."""
        return (
            "Make this PyTorch training loop faster without changing its results:\n\n"
            f"```python\n{code}\n```\n\n"
            "1. Call `review_code` and fix performance findings first (PT-PERF*, PT-DATA*, PT-GRAD003).\n"
            "2. Check the data path: batched indexing for in-memory tensors, workers and pin_memory only where they help.\n"
            "3. Consider AMP (bf16 only on hardware with native bf16; fp16 needs a GradScaler) and torch.compile "
            "(worth it only for long runs: it costs tens of seconds to compile).\n"
            "4. Measure before and after: `run_reference_impl` shows the throughput of the matching reference on this machine."
        )


def serve(transport: str = "stdio", host: str = "127.0.0.1", port: int = 8000, roots: list[Path] | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("PYTORCH_PATTERNS_LOG", "WARNING"))
    server = build_server(roots)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
