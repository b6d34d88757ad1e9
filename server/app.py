"""The pytorch-patterns MCP server: thin tools over `skill/` and `reference_impls/`.

Every tool validates its input with pydantic, delegates to the core library, and turns problems the model can fix
into error results (`isError: true`) that say what to change. Results are compact: a short text block the model reads
(findings one per line, generated code as plain text) plus structured content for programs. Reviews run in worker
processes (pool.py) so the event loop always answers; work that runs torch happens in a child process group that is
killed when the request is cancelled; torch is never imported here.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, Completion, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from pytorch_patterns import __version__
from pytorch_patterns.reference_impls.registry import list_impls
from pytorch_patterns.skill.review.catalogue import find_rule, rule_anchor, rule_doc_markdown, rule_info
from pytorch_patterns.skill.review.rule import all_rules, first_unknown_code

from . import pool
from .schemas import MAX_RESULT_CHARS, CompareInput, ReviewInput, RunInput, paginate_findings

log = logging.getLogger("pytorch_patterns.server")

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "skill" / "docs"
SKILL_MD = REPO_ROOT / "SKILL.md"
MAX_SOURCE_CHARS = 400_000  # review_code input cap: keeps one call's latency bounded (~seconds)
REVIEW_TIMEOUT_S = 60.0
TOOLSETS = {
    "review": ("review_code", "explain_rule"),
    "generate": ("generate_training_loop", "generate_dataset", "generate_checkpointing"),
    "run": ("list_reference_impls", "run_reference_impl", "compare_implementations", "diagnose_training_run"),
}
RUNS_CODE = ("run_reference_impl", "compare_implementations", "diagnose_training_run")

INSTRUCTIONS = """\
PyTorch tools. review_code: static review (rule codes, lines, fixes; never runs code); explain_rule: one rule's doc.
generate_*: pattern-correct training script / dataset / checkpoint code from a spec. run_reference_impl,
compare_implementations: train or time code in a sandboxed child (slow: seconds to minutes).
Resources: pytorch-patterns://skill, docs/{topic}, rules/{code or family}, reference/{name}, specs/{kind}.
"""

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
RUNS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


# ---------------------------------------------------------------------------------------------------- results
def compact(obj: Any) -> str:
    if isinstance(obj, BaseModel):
        return obj.model_dump_json(exclude_none=True)
    return json.dumps(obj, separators=(",", ":"), default=str)


def result(text: str, structured: Any = None, *, error: bool = False, extra: list[str] | None = None) -> CallToolResult:
    if isinstance(structured, BaseModel):
        structured = structured.model_dump(mode="json", exclude_none=True)
    content = [TextContent(type="text", text=text), *(TextContent(type="text", text=t) for t in extra or [])]
    return CallToolResult(content=content, structured_content=structured, is_error=error)


def fail(message: str) -> CallToolResult:
    return result(message, error=True)


def clip(text: str, max_chars: int | None) -> str:
    limit = min(max_chars or MAX_RESULT_CHARS, MAX_RESULT_CHARS)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 80)] + f"\n... [cut at {limit} characters; narrow the request or raise max_chars]"


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "input"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid input: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------------- roots
class Roots:
    """Where review_code and compare_implementations may read files from."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = [d.resolve() for d in dirs]

    async def allowed(self, ctx: Context | None) -> list[Path]:
        dirs = list(self.dirs)
        if ctx is not None:
            dirs.extend(await _client_roots(ctx))
        return dirs

    async def resolve(self, raw: str, ctx: Context | None, *, kind: Literal["file", "any"] = "file") -> Path:
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
        if kind == "file" and not real.is_file():
            raise ToolError(f"path {raw!r} is not a file")
        return real


async def _client_roots(ctx: Context) -> list[Path]:
    """The client's workspace roots, when it declares the (deprecated, still common) roots capability."""
    caps = ctx.client_capabilities
    if caps is None or getattr(caps, "roots", None) is None:
        return []
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with anyio.fail_after(5):
                listed = await ctx.session.list_roots()
    except Exception as exc:  # noqa: BLE001 -- roots are optional; fall back to the server's own dirs
        log.info("roots/list failed: %r", exc)
        return []
    out = []
    for root in listed.roots:
        uri = str(root.uri)
        if uri.startswith("file://"):
            from urllib.parse import unquote, urlparse

            out.append(Path(unquote(urlparse(uri).path)).resolve())
    return out


# ---------------------------------------------------------------------------------------------------- server
class Server(MCPServer):
    """MCPServer whose prompts answer a missing or over-long argument with invalid-params, not an internal error."""

    prompt_limits: dict[str, dict[str, int]] = {}

    async def get_prompt(self, name, arguments=None, context=None):  # type: ignore[override]
        prompt = self._prompt_manager.get_prompt(name)
        if prompt is not None:
            given = arguments or {}
            for arg in prompt.arguments or []:
                value = given.get(arg.name)
                if arg.required and (value is None or not str(value).strip()):
                    raise MCPError(code=INVALID_PARAMS, message=f"prompt {name!r} needs the argument {arg.name!r}: {arg.description}")
                limit = self.prompt_limits.get(name, {}).get(arg.name)
                if limit and value is not None and len(str(value)) > limit:
                    raise MCPError(code=INVALID_PARAMS, message=f"argument {arg.name!r} of prompt {name!r} is longer than {limit} characters")
        else:
            raise MCPError(code=INVALID_PARAMS, message=f"no prompt {name!r}; list them with prompts/list")
        return await super().get_prompt(name, arguments, context)


def build_server(root_dirs: list[Path] | None = None, *, toolsets: list[str] | None = None,
                 python: str | None = None) -> MCPServer:
    roots = Roots(root_dirs or [Path.cwd()])
    enabled = {t for ts in (toolsets or list(TOOLSETS)) for t in TOOLSETS[ts]}
    slots = pool.RunSlots()
    mcp = Server(name="pytorch-patterns", title="PyTorch patterns", version=__version__,
                 instructions=INSTRUCTIONS, log_level="WARNING")

    def tool(**kw):
        """`mcp.add_tool` with the docstring dedented into the description; skipped when its toolset is off."""

        def deco(fn):
            if kw.get("name", fn.__name__) in enabled:
                mcp.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), **kw)
            return fn

        return deco

    # ------------------------------------------------------------------ review
    @tool(annotations=READ_ONLY, title="Review PyTorch code")
    async def review_code(
        ctx: Context,
        source: Annotated[str | None, Field(description=f"Python source (max {MAX_SOURCE_CHARS} chars); or give path.")] = None,
        path: Annotated[str | None, Field(description="A .py/.ipynb file, or a folder reviewed as one project, under the workspace roots.")] = None,
        filename: Annotated[str | None, Field(description="Name to report for source, e.g. train.py.")] = None,
        select: Annotated[list[str] | None, Field(description="Rule codes or prefixes to run (PT-GRAD, PT-DEV001); default: the default set.")] = None,
        ignore: Annotated[list[str] | None, Field(description="Rule codes or prefixes to skip.")] = None,
        offset: Annotated[int, Field(ge=0, description="Skip this many findings (pagination).")] = 0,
        limit: Annotated[int, Field(ge=1, le=200, description="Findings per page (1-200).")] = 50,
        max_chars: Annotated[int | None, Field(ge=200, le=MAX_RESULT_CHARS, description="Cap on the text returned.")] = None,
    ) -> CallToolResult:
        """Static review of PyTorch code: bugs that change what a model learns (modes, gradients, optimizer steps,
        devices, data, AMP, checkpoints) and costly patterns. Never runs the code; ~0.1 s per file.
        Call it after writing or editing training code. Each line: file:line:col CODE message ([*] = mechanical fix).
        """
        try:
            req = ReviewInput(source=source, path=path, filename=filename, select=select, ignore=ignore, offset=offset, limit=limit)
        except ValidationError as exc:
            return fail(validation_message(exc))
        bad = first_unknown_code([*(req.select or []), *(req.ignore or [])])
        if bad is not None:
            return fail(f"unknown rule code or prefix {bad!r}; read pytorch-patterns://rules for the list")
        try:
            if req.path is not None:
                target = await roots.resolve(req.path, ctx, kind="any")
                if target.is_dir():
                    out = await pool.in_pool(_jobs().review_tree, str(target), req.select, req.ignore, timeout_s=REVIEW_TIMEOUT_S * 3)
                    return _review_result(out["findings"], out["errors"], req.offset, req.limit, max_chars)
                if target.stat().st_size > MAX_SOURCE_CHARS:
                    return fail(f"{req.path} is larger than {MAX_SOURCE_CHARS} bytes; review a smaller file or pass a part of it as source")
                data: str | bytes = target.read_bytes()
                name = str(target)
            else:
                data = req.source or ""
                name = req.filename or "<source>"
                if len(data) > MAX_SOURCE_CHARS:
                    return fail(f"source is {len(data)} characters; the limit is {MAX_SOURCE_CHARS}: send one file (or part of it) at a time")
            out = await pool.in_pool(_jobs().review_text, data, name, req.select, req.ignore, timeout_s=REVIEW_TIMEOUT_S)
        except ToolError as exc:
            return fail(str(exc))
        except pool.WorkTimeout as exc:
            return fail(f"the review {exc}; send a smaller file")
        if isinstance(out, dict):
            err = out["parse_error"]
            where = f" at line {err['line']}" + (f", column {err['col']}" if err["col"] else "") if err["line"] else ""
            return fail(f"cannot review {name}: {err['message']}{where}. Fix the syntax and call again.")
        return _review_result(out, [], req.offset, req.limit, max_chars)

    @tool(annotations=READ_ONLY, title="Explain a rule")
    def explain_rule(
        code: Annotated[str, Field(max_length=100, description="Rule code (PT-GRAD002) or name (missing-zero-grad).")],
    ) -> CallToolResult:
        """One rule's doc: what it flags, why, the fix, bad/good code, and its anchor (the line a finding is reported
        on). Call it when a finding's fix is not obvious."""
        rule = find_rule(code)
        if rule is None:
            return fail(f"no rule {code!r}; read pytorch-patterns://rules for the codes")
        return result(rule_doc_markdown(rule), {**rule_info(rule).model_dump(mode="json"), "anchor": rule_anchor(rule)})

    # ------------------------------------------------------------------ generators
    def _generate(kind: str, spec: dict | None, max_chars: int | None) -> CallToolResult:
        from pytorch_patterns.skill import generate as gen

        fn = {"train-loop": gen.generate_train_loop, "dataset": gen.generate_dataset, "checkpoint": gen.generate_checkpoint}[kind]
        try:
            out = fn(spec)
        except ValidationError as exc:
            return fail(validation_message(exc) + f" (fields: pytorch-patterns://specs/{kind})")
        except ValueError as exc:
            return fail(str(exc))
        meta = {"filename": out.filename, "lines": out.code.count("\n") + 1, "rationale": out.rationale, "spec": out.spec}
        head = f"{out.filename} ({meta['lines']} lines). Why: " + " ".join(out.rationale)
        return result(clip(head, 4000), meta, extra=[clip(out.code, max_chars or MAX_RESULT_CHARS)])

    @tool(annotations=READ_ONLY, title="Generate a training script")
    def generate_training_loop(
        spec: Annotated[dict | None, Field(description=TRAIN_SPEC_DOC)] = None,
        max_chars: Annotated[int | None, Field(ge=1000, le=MAX_RESULT_CHARS, description="Cap on the code returned.")] = None,
    ) -> CallToolResult:
        """A complete, runnable training script (seeded, eval under no_grad, full checkpoint/resume, optional AMP,
        accumulation, clipping, compile, DDP, EMA, early stopping). Returns the code as text, then its rationale.
        Every script accepts --synthetic-data --max-steps N for a smoke test.
        """
        return _generate("train-loop", spec, max_chars)

    @tool(annotations=READ_ONLY, title="Generate a Dataset and DataLoaders")
    def generate_dataset(
        spec: Annotated[dict | None, Field(description=DATASET_SPEC_DOC)] = None,
        max_chars: Annotated[int | None, Field(ge=1000, le=MAX_RESULT_CHARS, description="Cap on the code returned.")] = None,
    ) -> CallToolResult:
        """Dataset, collate function and DataLoader settings for the data source and device, with the rationale."""
        return _generate("dataset", spec, max_chars)

    @tool(annotations=READ_ONLY, title="Generate checkpoint save/resume code")
    def generate_checkpointing(
        spec: Annotated[dict | None, Field(description=CHECKPOINT_SPEC_DOC)] = None,
        max_chars: Annotated[int | None, Field(ge=1000, le=MAX_RESULT_CHARS, description="Cap on the code returned.")] = None,
    ) -> CallToolResult:
        """Checkpoint save/resume code: full training state, atomic writes, keep-last-N, weights_only loading."""
        return _generate("checkpoint", spec, max_chars)

    # ------------------------------------------------------------------ reference implementations
    @tool(annotations=READ_ONLY, title="List reference implementations")
    def list_reference_impls() -> CallToolResult:
        """The canonical training programs run_reference_impl can run (name: summary). Free."""
        impls = list_impls()
        lines = [f"{i.name}: {i.summary} (amp: {', '.join(i.amp_modes)}; compile: {'yes' if i.supports_compile else 'no'})" for i in impls]
        return result("\n".join(lines), {"impls": [i.model_dump(mode="json", exclude={"path", "module"}) for i in impls]})

    async def _run_guarded(ctx: Context, what: str, job: Callable, own_only: bool = False) -> Any:
        """Interpreter with torch, a run slot, progress from the first second, the job in a child process group."""
        from .interpreter import NoTorch, resolve

        try:
            with slots:
                await ctx.report_progress(0, None, f"{what}: finding a Python with torch")
                say = _progress_cb(ctx)
                try:
                    python, why = await anyio.to_thread.run_sync(
                        lambda: resolve(await_roots, python_opt, progress=say, own_only=own_only), abandon_on_cancel=True)
                except NoTorch as exc:
                    raise ToolError(f"{exc}. Pass --python to `pytorch-patterns serve`, or install torch where the server runs") from None
                await ctx.report_progress(0, None, f"{what}: starting a child with {python} ({why}); importing torch takes 5-40 s cold")
                return await _in_child_thread(ctx, job), f"{python} ({why})"
        except pool.Busy as exc:
            raise ToolError(f"busy: {exc}. Retry when it finishes, or ask the user to raise the limit") from None

    python_opt = python
    await_roots = list(roots.dirs)

    @tool(annotations=RUNS, title="Run a reference implementation")
    async def run_reference_impl(
        ctx: Context,
        name: Annotated[str, Field(max_length=100, description="Implementation name (list_reference_impls).")],
        device: Annotated[Literal["auto", "cpu", "cuda", "mps"], Field(description="auto: cuda, then mps, then cpu.")] = "auto",
        steps: Annotated[int | None, Field(ge=1, le=100_000, description="Optimizer steps (default: the smoke size, seconds on CPU).")] = None,
        seed: Annotated[int, Field(ge=0, le=2**31 - 1, description="Seed for every RNG.")] = 0,
        amp: Annotated[Literal["auto", "none", "bf16", "fp16"], Field(description="auto: bf16/fp16 only where the hardware is native, else fp32.")] = "auto",
        compile: Annotated[bool, Field(description="torch.compile the model (costs 12-120 s cold).")] = False,
        check_determinism: Annotated[bool, Field(description="Run twice and compare losses bit for bit (2x time).")] = False,
        check_resume: Annotated[bool, Field(description="Stop halfway, resume from the checkpoint, compare (2x time).")] = False,
        allow_slow_amp: Annotated[bool, Field(description="Run bf16/fp16 even where the CPU emulates it (40-130x slower).")] = False,
        timeout_s: Annotated[float, Field(gt=0, le=3600, description="Wall-clock limit; the child is killed after it.")] = 600,
        max_chars: Annotated[int | None, Field(ge=200, le=MAX_RESULT_CHARS, description="Cap on the text returned.")] = None,
    ) -> CallToolResult:
        """Train a reference implementation in a sandboxed child process on this machine and measure it: loss curve,
        eval metric, throughput, peak memory, time split, determinism/resume verdicts. Seconds to minutes.
        """
        from pytorch_patterns.reference_impls.runner import RunOptions, run_reference

        names = [i.name for i in list_impls()]
        if name not in names:
            return fail(f"no reference implementation {name!r}; choose one of: {', '.join(names)}")
        try:
            req = RunInput(name=name, device=device, steps=steps, seed=seed, amp=amp, compile=compile,
                           check_determinism=check_determinism, check_resume=check_resume, timeout_s=timeout_s)
            fields = {k: v for k, v in req.model_dump().items() if k != "name" and v is not None}
            if fields.get("amp") == "auto":
                fields.pop("amp")  # the implementation's own default: native low precision only where the hardware has it
            options = RunOptions(**{k: v for k, v in fields.items() if k in RunOptions.model_fields}, allow_slow_amp=allow_slow_amp)
        except ValidationError as exc:
            return fail(validation_message(exc))
        if device == "cuda" and not _has_cuda_device():
            return fail("device='cuda' but this machine has no NVIDIA GPU; use device='auto' or 'cpu'")
        try:
            report, used = await _run_guarded(ctx, f"run {name}", lambda progress, cancel: run_reference(name, options, progress=progress, cancel=cancel))
        except ToolError as exc:
            return fail(str(exc))
        report = _fit_report(report)
        verdict = (f"{name}: ok, {report.steps} steps on {report.device.type if report.device else '?'}, "
                   f"{report.metric_name}={report.eval_metric}" if report.ok else f"{name}: FAILED: {report.error or report.killed_reason}")
        text = clip(f"{verdict}. Python: {used}.\n{compact(report)}", max_chars)
        return result(text, {**report.model_dump(mode="json", exclude_none=True), "python": used}, error=not report.ok)

    @tool(annotations=RUNS, title="Compare a candidate implementation with a reference (runs code)")
    async def compare_implementations(
        ctx: Context,
        reference_source: Annotated[str | None, Field(description="Reference module: Model, get_inputs(), get_init_inputs().")] = None,
        candidate_source: Annotated[str | None, Field(description="Candidate module: ModelNew (or Model).")] = None,
        reference_path: Annotated[str | None, Field(description="Or a reference file under the workspace roots.")] = None,
        candidate_path: Annotated[str | None, Field(description="Or a candidate file under the workspace roots.")] = None,
        device: Annotated[Literal["auto", "cpu", "cuda", "mps"], Field(description="Where both run.")] = "auto",
        trials: Annotated[int, Field(ge=1, le=50, description="Seeded correctness trials (1-50).")] = 5,
        timeout_s: Annotated[float, Field(gt=0, le=3600, description="Wall-clock limit for the whole comparison.")] = 300,
    ) -> CallToolResult:
        """RUNS both modules' code, each in its own sandboxed child (bubblewrap: no network, no environment, a private
        temporary folder; refused when full isolation is unavailable). KernelBench-style: the candidate must match the
        reference over seeded trials (allclose), then both are timed. Seconds to minutes.
        """
        from pytorch_patterns.reference_impls.compare import CompareOptions, compare

        try:
            req = CompareInput(reference_source=reference_source, candidate_source=candidate_source,
                               reference_path=reference_path, candidate_path=candidate_path,
                               device=device, trials=trials, timeout_s=timeout_s)
            options = CompareOptions(**{k: v for k, v in {"device": req.device, "trials": req.trials, "timeout_s": req.timeout_s}.items()
                                        if k in CompareOptions.model_fields})
        except ValidationError as exc:
            return fail(validation_message(exc))
        with tempfile.TemporaryDirectory(prefix="pp-compare-") as tmp:
            try:
                ref = await roots.resolve(req.reference_path, ctx) if req.reference_path else _write(tmp, "reference.py", req.reference_source)
                cand = await roots.resolve(req.candidate_path, ctx) if req.candidate_path else _write(tmp, "candidate.py", req.candidate_source)
                for label, p in (("reference", ref), ("candidate", cand)):
                    problem = _syntax_problem(p)
                    if problem:
                        return fail(f"the {label} does not parse: {problem}")
                report, used = await _run_guarded(ctx, "compare", lambda progress, cancel: compare(ref, cand, options, cancel=cancel),
                                                  own_only=True)
            except ToolError as exc:
                return fail(str(exc))
        if report.error or report.killed_reason:
            return result(f"compare failed: {report.error or report.killed_reason}. Python: {used}.\n{compact(report)}", report, error=True)
        verdict = "correct" if report.correct else "INCORRECT: " + "; ".join(report.problems)
        speed = f", speed-up {report.speedup:.2f}x" if report.speedup else ""
        return result(f"{verdict}{speed}. Python: {used}.\n{compact(report)}", report)

    # ------------------------------------------------------------------ the training doctor
    _register_doctor(tool, roots, slots)

    _register_resources(mcp)
    _register_prompts(mcp)
    return mcp


def _jobs():
    from . import jobs

    return jobs


def _review_result(findings: list[dict], errors: list[dict], offset: int, limit: int, max_chars: int | None) -> CallToolResult:
    from pytorch_patterns.skill.review import Finding

    page = paginate_findings([Finding.model_validate(f) for f in findings], offset, limit)
    lines = [page.summary]
    for f in page.findings:
        where = f"{f.file}:" + (f"cell {f.cell}:" if f.cell else "") + f"{f.line}:{f.col}"
        lines.append(f"{where} {f.rule} [{f.severity.value}] {f.message}" + (" [*]" if f.fix else ""))
    for e in errors:
        lines.append(f"{e['file']}: not reviewed: {e['message']}")
    structured = page.model_dump(mode="json", exclude_none=True)
    if errors:
        structured["errors"] = errors
    return result(clip("\n".join(lines), max_chars), structured)


def _register_doctor(tool, roots, slots) -> None:
    """The training doctor's tool, when its module is present (server/doctor_tool.py)."""
    try:
        from . import doctor_tool
    except ImportError:
        return
    doctor_tool.register(tool, roots, slots)


def _has_cuda_device() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*")) or bool(os.environ.get("PYTORCH_PATTERNS_ASSUME_CUDA"))


def _syntax_problem(path: Path) -> str | None:
    import ast

    try:
        ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        return f"{exc.msg} at line {exc.lineno}"
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def _spec_models() -> dict[str, str]:
    """One line per generator spec: its main fields (the full list lives in the specs resource)."""
    from pytorch_patterns.skill.generate.specs import CheckpointSpec, DatasetSpec, TrainLoopSpec

    def main_fields(model: type[BaseModel], n: int) -> str:
        names = list(model.model_fields)[:n]
        return ", ".join(names) + (", ..." if len(model.model_fields) > n else "")

    return {"train-loop": main_fields(TrainLoopSpec, 10), "dataset": main_fields(DatasetSpec, 6), "checkpoint": main_fields(CheckpointSpec, 6)}


def spec_markdown(kind: str) -> str:
    """Every field of a generator spec: name, type, default, limits, description (nested models included)."""
    from pytorch_patterns.skill.generate.specs import CheckpointSpec, DatasetSpec, TrainLoopSpec

    model = {"train-loop": TrainLoopSpec, "dataset": DatasetSpec, "checkpoint": CheckpointSpec}[kind]
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    out = [f"# {model.__name__} (generate_{ {'train-loop': 'training_loop', 'dataset': 'dataset', 'checkpoint': 'checkpointing'}[kind]} spec)", ""]

    def describe(obj: dict, prefix: str) -> None:
        for name, prop in obj.get("properties", {}).items():
            ref = prop.get("$ref") or next((a.get("$ref") for a in prop.get("anyOf", []) if "$ref" in a), None)
            target = defs.get(ref.rsplit("/", 1)[-1]) if ref else None
            if target is not None and "properties" in target:
                out.append(f"- `{prefix}{name}` (object): {prop.get('description') or target.get('description') or ''}".rstrip())
                describe(target, prefix + name + ".")
                continue
            kinds = _type_of(prop, defs)
            limits = ", ".join(f"{k} {prop[k]}" for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "maxLength", "pattern") if k in prop)
            default = f"; default `{json.dumps(prop['default'])}`" if "default" in prop else ""
            desc = prop.get("description") or ""
            out.append(f"- `{prefix}{name}` ({kinds}{'; ' + limits if limits else ''}{default}) {desc}".rstrip())

    describe(schema, "")
    return "\n".join(out) + "\n"


def _type_of(prop: dict, defs: dict) -> str:
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " | ".join(_type_of(a, defs) for a in prop["anyOf"])
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        return _type_of(target, defs) if target else "object"
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}), defs)}"
    return str(prop.get("type", "any"))


_SPEC_DOC = ("Spec fields as an object; omit for the defaults. Every field, type, default and limit: "
             "pytorch-patterns://specs/{kind}. Unknown fields are refused with the valid names. Main: {main}")
_MAIN = _spec_models()
TRAIN_SPEC_DOC = _SPEC_DOC.format(kind="train-loop", main=_MAIN["train-loop"])
DATASET_SPEC_DOC = _SPEC_DOC.format(kind="dataset", main=_MAIN["dataset"])
CHECKPOINT_SPEC_DOC = _SPEC_DOC.format(kind="checkpoint", main=_MAIN["checkpoint"])

MAX_CURVE_POINTS = 200
MAX_TAIL_CHARS = 4000


def _fit_report(report):
    """Keep a run report small: the loss curve thinned to MAX_CURVE_POINTS evenly spaced points, output tails cut."""
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


def _progress_cb(ctx: Context):
    token = anyio.lowlevel.current_token()

    def progress(message: str) -> None:
        try:
            anyio.from_thread.run(ctx.report_progress, 0, None, message, token=token)
        except Exception:  # noqa: BLE001 -- best effort
            pass

    return progress


async def _in_child_thread(ctx: Context, job):
    """Run a blocking runner call in a worker thread, relaying progress and honouring cancellation.

    The runner does its torch work in a child process group; on cancellation (client cancel or timeout) the event is
    set and the runner kills that group before the thread returns.
    """
    from pytorch_patterns.reference_impls.runner import RunCancelled

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


# ---------------------------------------------------------------------------------------------------- resources
DOC_TOPICS = lambda: sorted(p.stem for p in DOCS_DIR.glob("*.md") if p.stem not in ("rules", "README"))  # noqa: E731
SPEC_KINDS = ("train-loop", "dataset", "checkpoint")


def rules_index() -> str:
    lines = ["# Rules (read one: pytorch-patterns://rules/PT-GRAD002, a family: pytorch-patterns://rules/PT-GRAD)", ""]
    for r in all_rules():
        flags = "" if r.default_enabled else ", opt-in"
        lines.append(f"- {r.code} `{r.name}` ({r.severity.value}{flags}): {r.summary}")
    return "\n".join(lines) + "\n"


def rules_doc(code: str) -> str:
    rule = find_rule(code)
    if rule is not None:
        return rule_doc_markdown(rule)
    prefix = code.upper().rstrip("-") + ("" if code.upper().startswith("PT-") else "")
    family = [r for r in all_rules() if r.code.startswith(prefix) and r.code[len(prefix):].isdigit()]
    if not family:
        raise ValueError(f"no rule or family {code!r}; read pytorch-patterns://rules")
    return "\n".join(rule_doc_markdown(r, level=2) for r in family)


def _register_resources(mcp: MCPServer) -> None:
    from mcp.server.mcpserver.resources import FunctionResource
    from mcp_types import ResourceTemplateReference

    if SKILL_MD.exists():
        mcp.add_resource(FunctionResource(uri="pytorch-patterns://skill", name="SKILL.md", title="The pytorch-patterns skill",
                                          description="The skill's guidance and decision guide.", mime_type="text/markdown",
                                          fn=lambda: SKILL_MD.read_text(encoding="utf-8")))
    mcp.add_resource(FunctionResource(uri="pytorch-patterns://rules", name="rules", title="Rule index",
                                      description="Every rule code with its one-line summary.", mime_type="text/markdown", fn=rules_index))

    @mcp.resource("pytorch-patterns://docs/{topic}", name="docs", title="Pattern doc", mime_type="text/markdown",
                  description="A pattern doc: " + ", ".join(DOC_TOPICS()))
    def doc(topic: str) -> str:
        if topic not in DOC_TOPICS():
            raise ValueError(f"no doc {topic!r}; topics: {', '.join(DOC_TOPICS())}")
        return (DOCS_DIR / f"{topic}.md").read_text(encoding="utf-8")

    @mcp.resource("pytorch-patterns://rules/{code}", name="rule", title="Rule doc", mime_type="text/markdown",
                  description="One rule (PT-GRAD002) or one family (PT-GRAD).")
    def rule(code: str) -> str:
        return rules_doc(code)

    @mcp.resource("pytorch-patterns://reference/{name}", name="reference", title="Reference implementation source",
                  mime_type="text/x-python", description="Source of a reference implementation (list_reference_impls).")
    def reference(name: str) -> str:
        from pytorch_patterns.reference_impls.registry import source_path

        names = [i.name for i in list_impls()]
        if name not in names:
            raise ValueError(f"no reference implementation {name!r}; names: {', '.join(names)}")
        return source_path(name).read_text(encoding="utf-8")

    @mcp.resource("pytorch-patterns://specs/{kind}", name="spec", title="Generator spec fields", mime_type="text/markdown",
                  description="Every field of a generator spec: train-loop, dataset, checkpoint.")
    def spec(kind: str) -> str:
        if kind not in SPEC_KINDS:
            raise ValueError(f"no spec {kind!r}; kinds: {', '.join(SPEC_KINDS)}")
        return spec_markdown(kind)

    def options(ref_uri: str, arg: str) -> list[str]:
        if ref_uri.endswith("{topic}"):
            return DOC_TOPICS()
        if ref_uri.endswith("{code}"):
            codes = [r.code for r in all_rules()]
            return sorted({c.rstrip("0123456789") for c in codes}) + codes
        if ref_uri.endswith("{name}"):
            return [i.name for i in list_impls()]
        if ref_uri.endswith("{kind}"):
            return list(SPEC_KINDS)
        return []

    @mcp.completion()
    async def complete(ref, argument, context):
        if isinstance(ref, ResourceTemplateReference):
            values = [v for v in options(ref.uri, argument.name) if v.lower().startswith((argument.value or "").lower())]
            return Completion(values=values[:100], total=len(values), has_more=len(values) > 100)
        if getattr(ref, "name", None) == "explain-rule" or argument.name == "code":
            codes = [r.code for r in all_rules()]
            values = [c for c in codes if c.lower().startswith((argument.value or "").lower())]
            return Completion(values=values[:100], total=len(values), has_more=len(values) > 100)
        return None


def _register_prompts(mcp: Server) -> None:
    mcp.prompt_limits = {"review-pytorch-file": {"path": 4096}, "write-training-script": {"task": 4000},
                         "make-loop-faster": {"code": 200_000}}

    @mcp.prompt(name="review-pytorch-file", title="Review this PyTorch file")
    def review_pytorch_file(path: Annotated[str, Field(description="The PyTorch file to review (under the workspace).")]) -> str:
        """Review a PyTorch file with the reviewer, then explain and fix what it finds."""
        return (
            f"Review the PyTorch file `{path}`.\n"
            "1. Call `review_code` with this path (or with its source).\n"
            "2. For each finding, call `explain_rule` if the fix is not obvious, and explain in one line why it matters "
            "for this code.\n"
            "3. Propose the corrected code; apply mechanical fixes exactly as the finding's fix edits describe.\n"
            "4. Call `review_code` again on the corrected code and confirm zero findings."
        )

    @mcp.prompt(name="write-training-script", title="Write a training script for ...")
    def write_training_script(task: Annotated[str, Field(description="What to train, on what data, e.g. 'ResNet on a folder of JPEGs, 10 classes'.")]) -> str:
        """Write a pattern-correct training script for the described task."""
        return (
            f"Write a PyTorch training script for: {task}\n"
            "1. Read pytorch-patterns://specs/train-loop, choose a spec that fits (task kind, optimizer, schedule, AMP "
            "only where the hardware supports it, checkpoint/resume) and call `generate_training_loop`.\n"
            "2. Adapt the generated model and data-loading code to the task; keep seeding, train/eval modes, no_grad "
            "evaluation, device handling and the full checkpoint.\n"
            "3. Call `review_code` on the result and fix any finding.\n"
            "4. Smoke-test it: `python train.py --synthetic-data --max-steps 20`."
        )

    @mcp.prompt(name="make-loop-faster", title="Make this loop faster")
    def make_loop_faster(code: Annotated[str, Field(description="The training loop's source code.")]) -> str:
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


def serve(transport: str = "stdio", host: str = "127.0.0.1", port: int = 8000, roots: list[Path] | None = None,
          toolsets: list[str] | None = None, python: str | None = None, on_ready: Callable[[], None] | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("PYTORCH_PATTERNS_LOG", "WARNING"))
    server = build_server(roots, toolsets=toolsets, python=python)
    if any(t in (toolsets or list(TOOLSETS)) for t in ("review",)):
        pool.warm_up()
    if on_ready:
        on_ready()
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
