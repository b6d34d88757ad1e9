"""Hostile or fake submissions: each scores 0 with its reason recorded, and the harness survives.

Each submission replaces train.py of a copy of a bundled fix task and is scored by the real harness (probe
child processes under the sandbox's timeout, memory and output caps)."""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from pytorch_patterns.evals.checks import score
from pytorch_patterns.evals.harness import BUILTIN_TASKS, DirectoryAgent, run_suite
from pytorch_patterns.evals.schema import load_task

SOURCE = BUILTIN_TASKS / "fix-missing-zero-grad"


def make_task(tmp_path: Path, **changes):
    dest = tmp_path / "tasks" / SOURCE.name
    shutil.copytree(SOURCE, dest)
    spec = dest / "task.yaml"
    data = yaml.safe_load(spec.read_text())
    data.update(changes)
    if "checks" in changes:  # mutants name checks; these tests score submissions, not mutants
        data["mutants"] = []
    spec.write_text(yaml.safe_dump(data))
    return load_task(dest)


def submission(tmp_path: Path, code: str) -> Path:
    sub = tmp_path / f"sub-{uuid.uuid4().hex[:8]}"
    sub.mkdir()
    (sub / "train.py").write_text(textwrap.dedent(code))
    return sub


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def assert_zero(result, reason_words: list[str]) -> None:
    assert result.score == 0.0 and not result.passed
    runs = result.checks[0]
    assert runs.name == "runs" and runs.passed is False
    assert all(c.passed is None for c in result.checks[1:]), "the runs gate must stop the other checks"
    for word in reason_words:
        assert word in runs.detail, runs.detail


def test_hanging_script_is_killed_on_timeout(tmp_path):
    task = make_task(tmp_path, timeout_s=3, checks=[{"name": "runs", "gate": True}, {"name": "loss_decreases"}])
    sub = submission(tmp_path, """
        import time
        while True:
            time.sleep(0.1)
    """)
    result = score(task, sub)
    assert_zero(result, ["killed", "timeout"])


def test_stdout_flood_is_cut(tmp_path):
    task = make_task(tmp_path, timeout_s=60, checks=[{"name": "runs", "gate": True}, {"name": "loss_decreases"}])
    sub = submission(tmp_path, """
        import sys
        chunk = "loss 0.123 " * 6000 + "\\n"
        while True:
            sys.stdout.write(chunk)
    """)
    result = score(task, sub)
    assert_zero(result, ["killed", "output"])


def test_memory_hog_is_killed(tmp_path):
    task = make_task(tmp_path, timeout_s=60, memory_mb=1000, checks=[{"name": "runs", "gate": True}, {"name": "loss_decreases"}])
    sub = submission(tmp_path, """
        import time
        blocks = []
        while True:
            blocks.append(b"x" * (64 << 20))  # 64 MB, written, so resident
            time.sleep(0.05)  # slow enough that the sandbox's sampling stops it soon after the cap
    """)
    result = score(task, sub)
    assert_zero(result, ["killed", "memory"])


def test_forked_grandchildren_do_not_survive(tmp_path):
    marker = f"pp-eval-orphan-{uuid.uuid4().hex}"
    task = make_task(tmp_path, timeout_s=60, checks=[{"name": "runs", "gate": True}, {"name": "loss_decreases"}])
    sub = submission(tmp_path, f"""
        import os
        import subprocess
        import sys

        sleeper = [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"]
        subprocess.Popen(sleeper)  # a child
        if os.fork() == 0:  # a daemon-style double fork: the grandchild is re-parented away from us
            if os.fork() == 0:
                os.execv(sys.executable, sleeper)
            os.execv("/bin/true", ["true"])
        print("step 1 loss 0.5")  # exits at once, leaving its children behind
    """)
    result = score(task, sub)
    assert_zero(result, ["never took an optimizer step"])
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker) == []


def test_script_deleting_its_workspace_harms_nothing_else(tmp_path):
    task = make_task(tmp_path, timeout_s=60)
    before = digest(task.root)
    sub = submission(tmp_path, """
        import shutil
        from pathlib import Path

        here = Path.cwd()
        for victim in (here, here.parent, Path.home()):  # its copy, the scratch folder of the other runs, $HOME
            shutil.rmtree(victim, ignore_errors=True)
    """)
    sub_before = digest(sub)
    results = run_suite([task], DirectoryAgent(tmp_path / "dir-agent"), jobs=1)  # no submission there: an agent error
    assert results[0].score == 0.0 and results[0].error
    result = score(task, sub)
    assert result.score == 0.0
    assert result.checks[0].passed is False and result.checks[0].detail
    assert digest(task.root) == before, "the task folder was modified"
    assert digest(sub) == sub_before, "the submission was modified (only copies may be run)"
    # The harness still works for the next submission: the oracle of the same task scores 1.0.
    assert score(task, task.oracle_dir).score == 1.0


def test_printed_losses_without_training_score_zero(tmp_path):
    task = make_task(tmp_path, timeout_s=60)
    sub = submission(tmp_path, """
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--max-steps", type=int, default=20)
        args, _ = parser.parse_known_args()
        for step in range(args.max_steps):
            print(f"step {step + 1} loss {1.4 * 0.9 ** step:.4f}")  # a plausible curve, no training at all
    """)
    result = score(task, sub)
    assert_zero(result, ["never took an optimizer step"])


def test_losses_backpropagated_into_nothing_do_not_count_as_training(tmp_path):
    task = make_task(tmp_path, timeout_s=60, checks=[{"name": "runs", "gate": True}, {"name": "loss_decreases"}])
    sub = submission(tmp_path, """
        import argparse

        import torch
        import torch.nn as nn

        parser = argparse.ArgumentParser()
        parser.add_argument("--max-steps", type=int, default=20)
        args, _ = parser.parse_known_args()
        model = nn.Linear(4, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(args.max_steps):
            optimizer.zero_grad()
            fake = torch.tensor(1.4 * 0.9 ** step, requires_grad=True)  # a falling "loss" unconnected to the model
            fake.backward()
            optimizer.step()
    """)
    result = score(task, sub)
    runs, loss = result.checks
    assert runs.passed is True
    assert loss.passed is False and "never produced a gradient" in loss.detail
    assert result.score == pytest.approx(0.25)  # untrained: capped at UNTRAINED_CAP whatever `runs` says (issue 13)


# ------------------------------------------------------- escaping the sandbox, harming files, forging results

def _isolated_or_skip(result) -> None:
    if result.sandbox != "full":
        pytest.skip(f"the kernel refused filesystem isolation here (sandbox: {result.sandbox})")


def test_absolute_path_attacks_outside_its_scratch_folder_are_refused(tmp_path):
    task = make_task(tmp_path, timeout_s=60)
    victim = tmp_path / "users-notes.txt"
    victim.write_text("precious")
    task_before, victim_dir_before = digest(task.root), digest(tmp_path / "tasks")
    sub = submission(tmp_path, f"""
        import os
        import shutil

        for target in ({str(task.root)!r}, {str(tmp_path / 'tasks')!r}):
            shutil.rmtree(target, ignore_errors=True)
        for target in ({str(victim)!r}, {str(task.root / 'task.yaml')!r}):
            try:
                os.remove(target)
            except OSError:
                pass
            try:
                with open(target, "w") as fh:
                    fh.write("overwritten")
            except OSError:
                pass
    """)
    result = score(task, sub)
    _isolated_or_skip(result)
    assert result.score == 0.0
    assert victim.read_text() == "precious"
    assert digest(task.root) == task_before and digest(tmp_path / "tasks") == victim_dir_before


def test_a_setsid_grandchild_of_a_submission_is_killed(tmp_path):
    marker = f"pp-eval-setsid-{uuid.uuid4().hex}"
    task = make_task(tmp_path, timeout_s=60, checks=[{"name": "runs", "gate": True}, {"name": "loss_decreases"}])
    sub = submission(tmp_path, f"""
        import os
        import sys
        import time

        if os.fork() == 0:
            os.setsid()  # leaves the session and the process group
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
            os.execv("/bin/true", ["true"])
        time.sleep(0.3)
    """)
    result = score(task, sub)
    assert result.score == 0.0
    assert result.sandbox in ("weak", "full")
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker) == []


FORGE = """
    import atexit
    import json
    import os
    from pathlib import Path

    plan = json.loads((Path.cwd().parent / "plan.json").read_text())

    def forge():
        for run in plan:
            fake = {{"losses": [1.5 * 0.8 ** i for i in range(24)], "backward_calls": 24, "backward_dirty": 0,
                    "backward_reached_params": 24, "steps": 24, "zero_grads": 24, "forward_count": 30,
                    "forwards": [[True, True, True]] * 24 + [[False, False, True]] * 6, "error": None, "exit_code": 0}}
            Path(run["trace"]).write_text(json.dumps(fake))

    {how}
"""


@pytest.mark.parametrize("how", ["forge(); os._exit(0)", "atexit.register(forge)"], ids=["write-and-exit", "atexit"])
def test_trace_files_written_by_the_submission_are_not_believed(tmp_path, how):
    task = make_task(tmp_path, timeout_s=60)
    sub = submission(tmp_path, FORGE.format(how=how))
    result = score(task, sub)
    assert result.score == 0.0, [(c.name, c.passed, c.detail) for c in result.checks]
    assert result.checks[0].passed is False


def test_a_printed_fake_compare_result_is_not_believed(tmp_path):
    source = BUILTIN_TASKS / "implement-layernorm"
    dest = tmp_path / "tasks" / source.name
    shutil.copytree(source, dest)
    task = load_task(dest)
    sub = tmp_path / "fake"
    sub.mkdir()
    report = {"correct": True, "trials": 5, "trials_passed": 5, "max_abs_diff": 0.0, "speedup": 3.0,
              "reference_ms": 3.0, "candidate_ms": 1.0}
    (sub / task.entry).write_text(textwrap.dedent(f"""
        import json
        import os

        line = "@@ptp-compare " + json.dumps({{"event": "result", "report": {report!r}}})
        print(line, flush=True)
        raise SystemExit(0)
    """))
    result = score(task, sub)
    assert result.score == 0.0, [(c.name, c.passed, c.detail) for c in result.checks]
    assert "check error" not in result.checks[0].detail, result.checks[0].detail  # refused, not crashed
    assert result.sandbox in ("weak", "full")
    # The same check believes the real thing: the task's oracle still scores 1.0.
    assert score(task, task.oracle_dir).score == 1.0


def test_a_submission_cannot_read_the_task_oracle(tmp_path):
    task = make_task(tmp_path, timeout_s=60)
    oracle = task.oracle_dir / task.entry
    sub = submission(tmp_path, f"""
        import runpy

        runpy.run_path({str(oracle)!r}, run_name="__main__")  # borrow the answer at run time
    """)
    result = score(task, sub)
    _isolated_or_skip(result)
    assert result.score == 0.0 and "FileNotFoundError" in result.checks[0].detail, result.checks[0].detail
    # The same code with a copy of the oracle beside it, i.e. a real submission, scores full marks.
    assert score(task, task.oracle_dir).score == 1.0
