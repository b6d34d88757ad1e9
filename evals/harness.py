"""Running the suite: agents produce submissions, checks score them, tasks run in parallel."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from pytorch_patterns.reference_impls.sandbox import Isolation, SandboxInputError, copy_regular_tree

from .checks import MAX_DISK_MB, MAX_SUBMISSION_MB, answer_folders, require_isolation, score
from .schema import Task, TaskResult

BUILTIN_TASKS = Path(__file__).with_name("tasks")


class Agent:
    """Produces the files of a submission for one task attempt, in `workspace` (which starts as a copy of inputs/)."""

    name = "agent"

    def produce(self, task: Task, attempt: int, workspace: Path) -> str | None:
        """Fill `workspace`; return an error text if the agent itself failed."""
        raise NotImplementedError


class OracleAgent(Agent):
    name = "oracle"

    def produce(self, task, attempt, workspace):
        shutil.copytree(task.oracle_dir, workspace, dirs_exist_ok=True)
        return None


class EmptyAgent(Agent):
    """Submits nothing at all: every task must score 0."""

    name = "empty"

    def produce(self, task, attempt, workspace):
        for p in workspace.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        return None


class InputsAgent(Agent):
    """Submits the inputs unchanged (the 'do nothing' baseline)."""

    name = "inputs"

    def produce(self, task, attempt, workspace):
        return None


class ReviewerAgent(Agent):
    """Our static reviewer as an agent: answers review tasks with its findings; leaves other tasks as given.

    It runs every rule, opt-in ones included, as an agent asked to find the problems would (`--select ALL`); the
    scorer counts an opt-in rule's finding only where the task labels that rule."""

    name = "reviewer"

    def produce(self, task, attempt, workspace):
        if task.kind != "review":
            return None
        from pytorch_patterns.skill.review import review_paths

        report = review_paths([str(p) for p in sorted(workspace.rglob("*.py"))], select=["ALL"], jobs=1)
        findings = [{"rule": f.rule, "line": f.line, "file": Path(f.file).name} for f in report.findings]
        (workspace / "findings.json").write_text(json.dumps(findings, indent=2))
        return None


class DirectoryAgent(Agent):
    """Submissions stored on disk as `<root>/<task>/<attempt>/files/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"dir:{root.name}"

    def produce(self, task, attempt, workspace):
        src = self.root / task.id / str(attempt) / "files"
        for p in workspace.iterdir():  # a missing submission is an empty one, not the task's inputs
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        if not src.is_dir():
            return f"no submission at {src}"
        try:  # regular files only: a symlink (to an answer file, say) or a FIFO is refused, never followed
            copy_regular_tree(src, workspace, max_bytes=MAX_SUBMISSION_MB << 20)
        except (SandboxInputError, OSError) as exc:
            for p in workspace.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            return f"submission refused: {exc}"
        return None


class CommandAgent(Agent):
    """Runs an agent command (e.g. `claude -p`) in a fresh workspace per task and attempt.

    The prompt is passed on standard input and in $PP_PROMPT_FILE; the command runs in the workspace (a copy of
    the task's inputs/) inside the sandbox (full level: only the workspace writable, a private $HOME seeded with
    copies of ~/.claude and ~/.claude.json, only the environment variables named in `env_names`), under time and
    memory limits. It keeps network access (it needs its model's API) unless `network=False`.
    """

    def __init__(self, command: str, timeout_s: float = 900, memory_mb: int = 8192, env_names: list[str] | None = None,
                 network: bool = True) -> None:
        self.command, self.timeout_s, self.memory_mb = command, timeout_s, memory_mb
        self.env_names, self.network = list(env_names or []), network
        self.name = f"cmd:{shlex.split(command)[0] if command.strip() else '?'}"

    def produce(self, task, attempt, workspace):
        from pytorch_patterns.reference_impls.sandbox import SandboxUnavailable, run_child

        prompt_file = workspace.parent / f"{workspace.name}.prompt.md"
        prompt_file.write_text(task.prompt, encoding="utf-8")
        env = {name: os.environ[name] for name in self.env_names if name in os.environ}
        env.update(PP_PROMPT_FILE=str(prompt_file), PP_TASK_ID=task.id, PP_ATTEMPT=str(attempt))
        words = shlex.split(self.command) if self.command.strip() else []
        exe = shutil.which(words[0]) if words else None
        env["PATH"] = os.pathsep.join([*([str(Path(exe).parent)] if exe else []), "/usr/local/bin", "/usr/bin", "/bin"])
        try:
            res = run_child(["/bin/sh", "-c", self.command], timeout_s=self.timeout_s, memory_mb=self.memory_mb,
                            max_output_bytes=64_000, cwd=workspace, env=env, stdin_data=task.prompt.encode(),
                            isolation=agent_isolation(task, workspace, self.command, self.network))
        except (SandboxUnavailable, SandboxInputError) as exc:
            return f"agent command not run: {exc}"
        (workspace.parent / f"{workspace.name}.agent.log").write_text(
            f"sandbox: {res.containment} ({res.containment_note})\n" + res.stdout_tail + "\n--- stderr ---\n" + res.stderr_tail)
        if not workspace.is_dir():
            workspace.mkdir()
        if res.killed_reason:
            return f"agent command killed ({res.killed_reason})"
        if res.returncode != 0:
            return f"agent command exited {res.returncode}"
        return None


def agent_isolation(task: Task, workspace: Path, command: str = "", network: bool = True) -> Isolation:
    """The agent sees its workspace (writable, a private tmpfs copied back out when it ends), a private $HOME
    seeded with copies of its configuration, the system, this Python, the harness's code (read-only, the tasks
    hidden) and the folder of its own executable; never the task's answers, other tasks, the repository's tests
    or git history, the user's home or another copy of the repository."""
    readable: list[Path] = []
    words = shlex.split(command) if command.strip() else []
    exe = shutil.which(words[0]) if words else None
    home = Path.home()
    if exe:
        real = Path(exe).resolve()
        readable += [Path(exe).parent, real.parent]
        if not real.is_relative_to(home):
            readable.append(real.parent.parent)  # e.g. a node install's lib/ next to bin/
    for extra in ("/usr/local", "/opt"):
        if Path(extra).is_dir():
            readable.append(Path(extra))
    seeds = {name: home / name for name in (".claude", ".claude.json") if (home / name).exists()}
    readable = sorted({r for r in readable if not home.is_relative_to(r) and r != Path("/")})  # never the home or above
    return Isolation(workspace=workspace.parent, readable=readable,
                     hidden=answer_folders(task), home_files=seeds, network=network, required=require_isolation(),
                     disk_mb=MAX_DISK_MB, max_copy_out_mb=MAX_SUBMISSION_MB * 4)


def make_agent(spec: str | None, submissions: Path | None, agent_cmd: str | None, *,
               agent_env: list[str] | None = None, agent_network: bool = True) -> Agent:
    if agent_cmd:
        return CommandAgent(agent_cmd, env_names=agent_env, network=agent_network)
    if submissions:
        return DirectoryAgent(submissions)
    agents = {"oracle": OracleAgent, "empty": EmptyAgent, "inputs": InputsAgent, "reviewer": ReviewerAgent}
    if spec not in agents:
        raise ValueError(f"unknown agent {spec!r}; built-in agents: {', '.join(agents)} (or --submissions DIR / --agent-cmd CMD)")
    return agents[spec]()


def run_one(task: Task, agent: Agent, attempt: int, keep_dir: Path | None = None) -> TaskResult:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"pp-ws-{task.id}-") as tmp:
        workspace = Path(tmp) / "workspace"
        if task.inputs_dir.is_dir():
            shutil.copytree(task.inputs_dir, workspace)
        else:
            workspace.mkdir()
        error = agent.produce(task, attempt, workspace)
        if keep_dir is not None:
            dest = keep_dir / task.id / str(attempt) / "files"
            try:
                copy_regular_tree(workspace, dest, max_bytes=MAX_SUBMISSION_MB << 20)
            except (SandboxInputError, OSError) as exc:
                error = error or f"submission not kept: {exc}"
        result = score(task, workspace, agent=agent.name, attempt=attempt)
    if error:
        result.error = error
    result.wall_s = round(time.monotonic() - t0, 3)
    return result


def run_suite(
    tasks: list[Task],
    agent: Agent,
    *,
    attempts: int = 1,
    jobs: int | None = None,
    keep_dir: Path | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> list[TaskResult]:
    """Every (task, attempt) in parallel on all cores; results in task order."""
    jobs = jobs or os.cpu_count() or 1
    work = [(t, a) for t in tasks for a in range(attempts)]
    results: list[TaskResult] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, t, agent, a, keep_dir) for t, a in work]
        for fut in futures:
            r = fut.result()
            results.append(r)
            if on_result:
                on_result(r)
    return results


class Calibration(BaseModel):
    task: str
    ok: bool
    oracle_score: float
    empty_score: float
    mutants: dict[str, list[str]]  # mutant -> failed checks
    problems: list[str]


def calibrate_task(task: Task) -> Calibration:
    """The oracle scores 1.0, an empty submission 0, and each mutant fails exactly its named check."""
    problems: list[str] = []
    oracle = run_one(task, OracleAgent(), 0)
    if oracle.score != 1.0:
        failed = [f"{c.name} ({c.detail})" for c in oracle.checks if not c.passed]
        problems.append(f"oracle scores {oracle.score}: failed {failed}")
    empty = run_one(task, EmptyAgent(), 0)
    if empty.score != 0.0:
        problems.append(f"empty submission scores {empty.score}")
    mutants: dict[str, list[str]] = {}
    for m in task.mutants:
        res = run_one(task, DirectoryMutant(task, m.name), 0)
        failed = [c.name for c in res.checks if c.passed is False]
        mutants[m.name] = failed
        expected = {m.fails, *m.also_fails}
        if set(failed) != expected or res.score >= 1.0:
            details = {c.name: c.detail for c in res.checks if c.passed is False}
            problems.append(f"mutant {m.name} should fail exactly {sorted(expected)} but failed {failed} {details}")
    return Calibration(task=task.id, ok=not problems, oracle_score=oracle.score, empty_score=empty.score, mutants=mutants, problems=problems)


class DirectoryMutant(Agent):
    """A task's oracle with the mutant's files laid over it."""

    def __init__(self, task: Task, name: str) -> None:
        self.task, self.mutant = task, name
        self.name = f"mutant:{name}"

    def produce(self, task, attempt, workspace):
        shutil.copytree(task.oracle_dir, workspace, dirs_exist_ok=True)
        shutil.copytree(task.mutant_dir(self.mutant), workspace, dirs_exist_ok=True)
        return None


def calibrate(tasks: list[Task], jobs: int | None = None, on_done: Callable[[Calibration], None] | None = None) -> list[Calibration]:
    jobs = jobs or os.cpu_count() or 1
    out: list[Calibration] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for cal in pool.map(calibrate_task, tasks):
            out.append(cal)
            if on_done:
                on_done(cal)
    return out
