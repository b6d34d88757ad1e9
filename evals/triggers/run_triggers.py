"""Measure how often Claude Code loads the pytorch-patterns skill: trigger rate on requests that should load
it, false-trigger rate on near-misses (JAX, TensorFlow, numpy, general Python) that should not.

Each prompt runs once through `claude -p ... --output-format stream-json` in a scratch project where the
skill is installed (as a project skill linked to this checkout, or as a plugin with --mode plugin). The
skill counts as loaded when the stream shows a `Skill` tool use naming it (or a Read of its SKILL.md).
Without `claude` on PATH or ANTHROPIC_API_KEY in the environment it prints "skipped: ..." and exits 0.

    python evals/triggers/run_triggers.py                 # all 40 prompts, 4 at a time
    python evals/triggers/run_triggers.py --limit 5 --json-out runs/triggers.json
    python evals/triggers/run_triggers.py --min-trigger-rate 0.9 --max-false-trigger-rate 0.1  # exit 1 below
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, model_validator

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_FILE = HERE / "triggers.yaml"


class TriggerCase(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    prompt: str = Field(min_length=10, max_length=2000)
    topic: str | None = None  # should_trigger: the pattern doc it exercises
    category: Literal["jax", "tensorflow", "numpy", "python"] | None = None  # should_not_trigger


class TriggerSet(BaseModel):
    version: Literal[1]
    skill: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    should_trigger: list[TriggerCase] = Field(min_length=1)
    should_not_trigger: list[TriggerCase] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> TriggerSet:
        cases = self.should_trigger + self.should_not_trigger
        ids = [c.id for c in cases]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate ids: {dup}")
        prompts = [c.prompt.strip().lower() for c in cases]
        if len(set(prompts)) != len(prompts):
            raise ValueError("duplicate prompts")
        if missing := [c.id for c in self.should_trigger if not c.topic]:
            raise ValueError(f"should_trigger cases need a topic: {missing}")
        if missing := [c.id for c in self.should_not_trigger if not c.category]:
            raise ValueError(f"should_not_trigger cases need a category: {missing}")
        return self


class CaseResult(BaseModel):
    id: str
    expected: bool  # True: should trigger
    triggered: bool | None  # None: the run failed, see error
    error: str | None = None
    seconds: float


class TriggerReport(BaseModel):
    skill: str
    mode: str
    model: str | None
    trigger_rate: float | None = Field(description="loaded / completed, over should_trigger")
    false_trigger_rate: float | None = Field(description="loaded / completed, over should_not_trigger")
    completed: int
    errors: int
    results: list[CaseResult]


def load_trigger_set(path: Path = DEFAULT_FILE) -> TriggerSet:
    """Read and validate a trigger file (YAML or JSON); a clear ValueError for anything malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return TriggerSet.model_validate(data)


def _names_skill(value: object, skill: str) -> bool:
    # plugin skills are namespaced "plugin:skill"
    return isinstance(value, str) and skill in value.strip().split(":")


def skill_loaded(events: Iterable[dict], skill: str) -> bool:
    """True when a stream-json transcript shows the agent loading `skill`."""
    for event in events:
        if not isinstance(event, dict) or event.get("type") != "assistant":
            continue
        content = (event.get("message") or {}).get("content") or []
        for item in content if isinstance(content, list) else []:
            if not isinstance(item, dict) or item.get("type") != "tool_use":
                continue
            tool_input = item.get("input") or {}
            if item.get("name") == "Skill" and any(_names_skill(v, skill) for v in tool_input.values()):
                return True
            if item.get("name") == "Read" and str(tool_input.get("file_path", "")).endswith(f"{skill}/SKILL.md"):
                return True
    return False


def skill_available(init_event: dict | None, skill: str) -> bool | None:
    """Whether the session's init event lists the skill (None when there is no init event to tell)."""
    if not init_event:
        return None
    return skill in json.dumps(init_event)


def prepare_workspace(root: Path, mode: str, skill: str) -> list[str]:
    """Make `root` a scratch project that can see the skill; return the extra claude CLI arguments."""
    if mode == "plugin":
        return ["--plugin-dir", str(REPO)]
    skills_dir = root / ".claude" / "skills"
    skills_dir.mkdir(parents=True)
    (skills_dir / skill).symlink_to(REPO, target_is_directory=True)
    return []


def run_case(case: TriggerCase, expected: bool, args: argparse.Namespace, skill: str) -> CaseResult:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pp-trigger-") as tmp:
        extra = prepare_workspace(Path(tmp), args.mode, skill)
        cmd = [args.claude, "-p", case.prompt, "--output-format", "stream-json", "--verbose",
               "--max-turns", str(args.max_turns), "--allowedTools", "Skill",
               "--disallowedTools", "Bash", "Edit", "Write", "NotebookEdit", "WebFetch", "WebSearch", *extra]
        if args.model:
            cmd += ["--model", args.model]
        try:
            proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
        except OSError as exc:
            return CaseResult(id=case.id, expected=expected, triggered=None, error=f"cannot start claude: {exc}",
                              seconds=time.monotonic() - start)
        timer = threading.Timer(args.timeout, proc.kill)
        timer.start()
        events, init_event, loaded = [], None, False
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and event.get("type") == "system" and event.get("subtype") == "init":
                    init_event = event
                events.append(event)
                if skill_loaded([event], skill):
                    loaded = True
                    proc.kill()  # the answer is known; don't pay for the rest of the turn
                    break
            proc.wait()
        finally:
            timer.cancel()
            stderr = proc.stderr.read() if proc.stderr else ""  # type: ignore[union-attr]
    seconds = time.monotonic() - start
    if loaded:
        return CaseResult(id=case.id, expected=expected, triggered=True, seconds=seconds)
    if seconds >= args.timeout:
        return CaseResult(id=case.id, expected=expected, triggered=None, error=f"timed out after {args.timeout} s", seconds=seconds)
    if skill_available(init_event, skill) is False:
        return CaseResult(id=case.id, expected=expected, triggered=None, seconds=seconds,
                          error=f"the session did not list skill {skill!r}; check the installation (--mode)")
    if proc.returncode not in (0, None) and not events:
        return CaseResult(id=case.id, expected=expected, triggered=None, seconds=seconds,
                          error=f"claude exited {proc.returncode}: {stderr.strip()[-500:]}")
    return CaseResult(id=case.id, expected=expected, triggered=False, seconds=seconds)


def summarise(results: list[CaseResult], skill: str, mode: str, model: str | None) -> TriggerReport:
    def rate(expected: bool) -> float | None:
        done = [r for r in results if r.expected is expected and r.triggered is not None]
        return sum(r.triggered for r in done) / len(done) if done else None  # type: ignore[misc]

    completed = sum(r.triggered is not None for r in results)
    return TriggerReport(skill=skill, mode=mode, model=model, trigger_rate=rate(True), false_trigger_rate=rate(False),
                         completed=completed, errors=len(results) - completed, results=results)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", type=Path, default=DEFAULT_FILE, help="trigger set (YAML or JSON)")
    p.add_argument("--mode", choices=["project", "plugin"], default="project",
                   help="install the skill as a project skill (default) or load the repo as a plugin")
    p.add_argument("--model", default=None, help="model passed to claude --model (default: claude's default)")
    p.add_argument("--jobs", type=int, default=4, help="prompts run in parallel")
    p.add_argument("--timeout", type=float, default=180, help="seconds per prompt")
    p.add_argument("--max-turns", type=int, default=2, help="agent turns per prompt (the skill loads in turn 1)")
    p.add_argument("--limit", type=int, default=None, help="only the first N prompts of each set")
    p.add_argument("--json-out", type=Path, default=None, help="write the full report here")
    p.add_argument("--min-trigger-rate", type=float, default=None, help="exit 1 when the trigger rate is lower")
    p.add_argument("--max-false-trigger-rate", type=float, default=None, help="exit 1 when the false-trigger rate is higher")
    p.add_argument("--claude", default="claude", help="the claude executable")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        trigger_set = load_trigger_set(args.file)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    claude = shutil.which(args.claude)
    if claude is None:
        print(f"skipped: `{args.claude}` (Claude Code) is not on PATH; install it to measure trigger rates")
        return 0
    if not os.environ.get("ANTHROPIC_API_KEY"):
        print("skipped: ANTHROPIC_API_KEY is not set; the trigger evaluation calls the model")
        return 0
    args.claude = claude

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = Console(stderr=True)
    cases = [(c, True) for c in trigger_set.should_trigger[: args.limit]]
    cases += [(c, False) for c in trigger_set.should_not_trigger[: args.limit]]
    results: list[CaseResult] = []
    with Progress(console=console) as progress, ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        task = progress.add_task("prompts", total=len(cases))
        futures = [pool.submit(run_case, c, expected, args, trigger_set.skill) for c, expected in cases]
        for future in futures:
            results.append(future.result())
            progress.advance(task)

    report = summarise(results, trigger_set.skill, args.mode, args.model)
    table = Table(title=f"{trigger_set.skill} trigger evaluation ({args.mode})")
    for col in ("id", "expected", "loaded", "ok", "s"):
        table.add_column(col)
    for r in results:
        loaded = "error" if r.triggered is None else ("yes" if r.triggered else "no")
        ok = "" if r.triggered is None else ("✓" if r.triggered == r.expected else "✗")
        table.add_row(r.id, "load" if r.expected else "skip", loaded, ok, f"{r.seconds:.0f}")
    Console().print(table)

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.0f}%"

    print(f"trigger rate (should load): {pct(report.trigger_rate)}; "
          f"false-trigger rate (should not load): {pct(report.false_trigger_rate)}; "
          f"completed {report.completed}/{len(results)}, errors {report.errors}")
    for r in results:
        if r.error:
            print(f"  {r.id}: {r.error}", file=sys.stderr)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    failed = (args.min_trigger_rate is not None and (report.trigger_rate or 0.0) < args.min_trigger_rate) or (
        args.max_false_trigger_rate is not None and (report.false_trigger_rate or 0.0) > args.max_false_trigger_rate)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
