"""`pytorch-patterns eval ...` end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pytorch_patterns.evals.harness import BUILTIN_TASKS
from pytorch_patterns.reference_impls.sandbox import sandbox_level

CLI = [sys.executable, "-m", "pytorch_patterns.cli"]
TWO = ["--only", "fix-missing-zero-grad", "--only", "review-seeding"]


def eval_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "eval", *args], capture_output=True, text=True, timeout=timeout, check=False, env={**os.environ, "COLUMNS": "200"})


def test_run_with_the_oracle_agent_writes_reports(tmp_path):
    out = tmp_path / "run"
    proc = eval_cli("run", "--agent", "oracle", *TWO, "-o", str(out), "--keep-submissions")
    assert proc.returncode == 0, proc.stderr
    assert "2 tasks x 1 attempt(s) with agent oracle: mean score 1.000" in proc.stdout
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task"] for r in results) == ["fix-missing-zero-grad", "review-seeding"]
    assert all(r["score"] == 1.0 and r["passed"] for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["pass@1"] == 1.0
    for name in ("summary.md", "report.html"):
        assert (out / name).stat().st_size > 0
    assert (out / "submissions" / "review-seeding" / "0" / "files" / "findings.json").is_file()
    # The kept submissions are a valid --submissions folder: scoring them again gives the same result.
    again = eval_cli("run", "--submissions", str(out / "submissions"), *TWO, "-o", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert "mean score 1.000" in again.stdout
    # And compare of the two runs is a tie everywhere.
    cmp = subprocess.run([*CLI, "eval", "compare", str(out), str(tmp_path / "again"), "--format", "json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cmp.returncode == 0, cmp.stderr
    data = json.loads(cmp.stdout)
    assert data["delta"] == 0.0 and data["ties"] == 2


def test_agent_cmd_runs_in_the_workspace(tmp_path):
    # The command sees the task's inputs in its working directory and the prompt on stdin and in $PP_PROMPT_FILE;
    # this one checks both, then writes the right answer (a copy of the oracle made beforehand, standing in for
    # a perfect agent: the task folder itself is hidden from agents).
    # The sandbox shows the agent nothing of the host but its workspace, so the answers travel in the command.
    import base64

    writes = []
    for task_id in ("review-seeding", "fix-missing-zero-grad"):
        for path in sorted((BUILTIN_TASKS / task_id / "oracle").iterdir()):
            blob = base64.b64encode(path.read_bytes()).decode()
            writes.append(f'if [ "$PP_TASK_ID" = {task_id} ]; then echo {blob} | base64 -d > {path.name}; fi')
    command = ('test -s "$PP_PROMPT_FILE" && test -f train.py && cmp -s - "$PP_PROMPT_FILE" && '
               + " && ".join(writes))
    out = tmp_path / "cmd"
    proc = eval_cli("run", "--agent-cmd", command, *TWO, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "mean score 1.000" in proc.stdout, proc.stdout + proc.stderr
    failing = eval_cli("run", "--agent-cmd", "exit 3", "--only", "review-seeding", "-o", str(tmp_path / "fail"))
    assert failing.returncode == 0
    result = json.loads((tmp_path / "fail" / "results.jsonl").read_text())
    assert result["score"] == 0.0 and result["error"] == "agent command exited 3"


def test_list_export_and_errors(tmp_path):
    listed = eval_cli("list")
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == sum(1 for d in BUILTIN_TASKS.iterdir() if (d / "task.yaml").exists())
    target = tmp_path / "evals.json"
    exported = eval_cli("export", "-o", str(target))
    assert exported.returncode == 0 and json.loads(target.read_text())["evals"]
    unknown = eval_cli("run", "--only", "no-such-task", "-o", str(tmp_path / "x"))
    assert unknown.returncode == 2 and "no-such-task" in unknown.stderr
    bad_agent = eval_cli("run", "--agent", "wizard", "--only", "review-seeding", "-o", str(tmp_path / "y"))
    assert bad_agent.returncode == 2 and "unknown agent" in bad_agent.stderr


def test_calibrate_cli_on_one_task():
    proc = eval_cli("calibrate", "--only", "review-seeding")
    assert proc.returncode == 0, proc.stderr
    assert "calibration: 1/1 tasks ok (2 mutants)" in proc.stdout


def test_agent_cmd_cannot_read_answers_or_touch_the_harness(tmp_path):
    level, note = sandbox_level()
    if level != "full":
        pytest.skip(f"no full isolation here: {note}")
    victim = Path(__file__).resolve().parents[2] / "evals" / "checks.py"
    before = victim.read_bytes()
    command = (
        f'ls {shlex.quote(str(BUILTIN_TASKS))}/"$PP_TASK_ID" > seen.txt; '
        f'cp -R {shlex.quote(str(BUILTIN_TASKS))}/"$PP_TASK_ID"/oracle/. . ; '
        f'echo "def score(*a, **k): return 1.0" >> {shlex.quote(str(victim))}; '
        'echo ok > "$HOME/.pp-agent-probe" 2>/dev/null; rm -f "$HOME/.pp-agent-probe"'
    )
    out = tmp_path / "peek"
    try:
        proc = eval_cli("run", "--agent-cmd", command, "--only", "review-seeding", "-o", str(out), "--keep-submissions")
        modified = victim.read_bytes() != before
    finally:
        victim.write_bytes(before)  # should the protection ever fail, the repository is left as it was
    assert proc.returncode == 0, proc.stderr
    assert not modified, "the agent modified the harness"
    result = json.loads((out / "results.jsonl").read_text())
    kept = out / "submissions" / "review-seeding" / "0" / "files"
    assert (kept / "seen.txt").read_text() == "", "the agent could list the task folder"
    assert not (kept / "findings.json").exists(), "the agent copied the oracle's answer"
    assert result["score"] == 0.0
