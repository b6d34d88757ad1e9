"""The sandbox really kills, caps and reports: real child processes, grandchildren included."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from pytorch_patterns.reference_impls.sandbox import (BWRAP_ENV, Isolation, SandboxInputError, SandboxUnavailable, live_session_pids,
                                     run_child, sandbox_level)

PY = sys.executable
REPO = Path(__file__).resolve().parents[2]


def _no_survivors(pgid: int) -> bool:
    # Zombies reparented to an init that does not reap them are dead already; live ones are orphans.
    return live_session_pids(pgid) == []


def test_runaway_child_that_forks_grandchildren_is_killed_with_its_whole_group():
    script = (
        "import os, time, sys\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        while True: time.sleep(0.1)\n"
        "print('forked', flush=True)\n"
        "while True: time.sleep(0.1)\n"
    )
    lines = []
    result = run_child([PY, "-c", script], timeout_s=1.5, memory_mb=None, max_output_bytes=10_000,
                       on_line=lines.append)
    assert result.timed_out and result.killed_reason == "timeout"
    assert "timed out" in result.message
    assert lines == ["forked"]
    assert result.wall_s < 10
    assert _no_survivors(result.pid)
    try:
        os.killpg(result.pid, 0)
        group_exists = True  # only zombies may remain, which the check above already allowed
    except ProcessLookupError:
        group_exists = False
    assert not group_exists or _no_survivors(result.pid)
    # Cross-check by command line: no live process still runs the script.
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    survivors = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"for _ in range(3)" in fh.read():
                    with open(f"/proc/{pid}/stat", "rb") as fh2:
                        state = fh2.read().rsplit(b")", 1)[1].split()[0]
                    if state not in (b"Z", b"X"):
                        survivors.append(pid)
        except OSError:
            continue
    assert survivors == []


def test_child_that_leaves_a_daemon_holding_the_pipes_returns_and_the_daemon_dies():
    script = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    print('daemon', os.getpid(), flush=True)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
    )
    lines = []
    t0 = time.monotonic()
    result = run_child([PY, "-c", script], timeout_s=30, memory_mb=None, max_output_bytes=10_000, on_line=lines.append)
    assert time.monotonic() - t0 < 15  # did not wait for the daemon's 60 s
    assert result.returncode == 0 and result.killed_reason is None
    daemon_pid = int(lines[0].split()[1])
    assert not os.path.exists(f"/proc/{daemon_pid}") or open(f"/proc/{daemon_pid}/stat").read().rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_memory_hog_is_killed_with_a_clear_reason():
    script = (
        "chunks = []\n"
        "while True:\n"
        "    chunks.append(bytearray(20 * 1024 * 1024))  # zero-filled pages count once touched\n"
        "    chunks[-1][::4096] = b'x' * len(chunks[-1][::4096])\n"
    )
    result = run_child([PY, "-c", script], timeout_s=60, memory_mb=200, max_output_bytes=10_000)
    assert result.killed_reason == "memory" and not result.timed_out
    assert "memory cap exceeded" in result.message and "200 MB" in result.message
    assert result.peak_rss_mb > 200
    assert result.returncode is not None and result.returncode < 0  # killed by a signal


def test_output_flood_is_capped_and_can_be_killed():
    flood = "import sys\nfor _ in range(2000): sys.stdout.write('y' * 9999 + '\\n')\nsys.stderr.write('done')\n"
    result = run_child([PY, "-c", flood], timeout_s=60, memory_mb=None, max_output_bytes=5_000)
    assert result.returncode == 0
    assert result.stdout_bytes == 2000 * 10_000
    assert len(result.stdout_tail) < 5_000 + 100 and "earlier bytes dropped" in result.stdout_tail
    assert result.stderr_tail == "done"

    endless = "import sys\nwhile True: sys.stdout.write('z' * 65536)\n"
    killed = run_child([PY, "-c", endless], timeout_s=60, memory_mb=None, max_output_bytes=5_000,
                       max_total_output_bytes=2_000_000)
    assert killed.killed_reason == "output" and len(killed.stdout_tail) < 5_100


def test_crash_returns_the_stderr_tail():
    script = "import sys\nprint('partial output')\nraise RuntimeError('boom in the child')\n"
    result = run_child([PY, "-c", script], timeout_s=30, memory_mb=None, max_output_bytes=10_000)
    assert result.returncode == 1 and result.killed_reason is None
    assert "RuntimeError: boom in the child" in result.stderr_tail
    assert "partial output" in result.stdout_tail


def test_cancel_kills_promptly():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    result = run_child([PY, "-c", "import time\nwhile True: time.sleep(0.1)"], timeout_s=60, memory_mb=None,
                       max_output_bytes=1000, cancel=cancel)
    assert result.killed_reason == "cancelled" and time.monotonic() - t0 < 10


def test_stdin_data_and_sigterm_ignoring_child_gets_sigkill():
    script = ("import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "print(sys.stdin.readline().strip(), flush=True)\nwhile True: time.sleep(0.1)\n")
    lines = []
    result = run_child([PY, "-c", script], timeout_s=1.0, memory_mb=None, max_output_bytes=1000,
                       on_line=lines.append, stdin_data=b"hello\n")
    assert lines == ["hello"]
    assert result.killed_reason == "timeout" and result.returncode == -9


# ----------------------------------------------------------------------------- containment (Linux)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="containment needs Linux (/proc, prctl)")


def _live_with(marker: str) -> list[int]:
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


def _gone(marker: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while _live_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _live_with(marker) == []


def _escapee(marker: str, then: str = "") -> str:
    """A script whose grandchild double-forks, calls setsid() (leaving the session and process group) and sleeps."""
    return (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', '{marker}'])\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\n"
        "print('escaped', flush=True)\n"
        + then
    )


@linux_only
@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_a_grandchild_that_calls_setsid_is_killed_with_the_child(ending):
    marker = f"pp-setsid-{uuid.uuid4().hex}"
    then = "while True: time.sleep(0.1)\n" if ending == "times out" else ""
    result = run_child([PY, "-c", _escapee(marker, then)], timeout_s=3, memory_mb=None, max_output_bytes=10_000)
    assert "escaped" in result.stdout_tail
    assert result.containment == "weak", result.containment_note
    assert result.timed_out == (ending == "times out")
    assert _gone(marker), "a setsid() grandchild outlived the sandbox"


@linux_only
def test_memory_of_a_setsid_grandchild_counts_against_the_cap():
    hog = ("import os, time\n"
           "if os.fork() == 0:\n"
           "    os.setsid()\n"
           "    blocks = []\n"
           "    while True:\n"
           "        blocks.append(bytearray(20 << 20)); blocks[-1][::4096] = b'x' * len(blocks[-1][::4096])\n"
           "        time.sleep(0.02)\n"
           "while True: time.sleep(0.1)\n")
    result = run_child([PY, "-c", hog], timeout_s=60, memory_mb=200, max_output_bytes=10_000)
    assert result.killed_reason == "memory", result


@linux_only
def test_the_job_dies_when_its_supervisor_is_killed(tmp_path):
    marker = f"pp-orphan-{uuid.uuid4().hex}"
    supervisor = (
        "import sys\n"
        "from pytorch_patterns.reference_impls.sandbox import run_child\n"
        f"run_child([sys.executable, '-c', 'import time; print(1, flush=True); time.sleep(120)', '{marker}'],\n"
        "          timeout_s=120, memory_mb=None, max_output_bytes=1000)\n"
    )
    proc = subprocess.Popen([PY, "-c", supervisor], cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not _live_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _live_with(marker), "the job never started"
        proc.kill()  # SIGKILL: the supervisor gets no chance to clean up
        proc.wait(timeout=10)
        assert _gone(marker), "the job outlived its supervisor"
    finally:
        proc.kill()


def _full_or_skip() -> None:
    level, note = sandbox_level()
    if level != "full":
        pytest.skip(f"no full isolation here: {note}")


def _iso_run(code: str, work: Path, **kw):
    iso_kw = {k: kw.pop(k) for k in list(kw) if k in Isolation.model_fields}
    return run_child([PY, "-I", "-c", code], timeout_s=kw.pop("timeout_s", 60), memory_mb=kw.pop("memory_mb", 1024),
                     max_output_bytes=20_000, cwd=work, isolation=Isolation(workspace=work, **iso_kw), **kw)


@linux_only
def test_full_isolation_shows_only_the_workspace_and_copies_results_back(tmp_path, monkeypatch):
    _full_or_skip()
    work = tmp_path / "work"
    work.mkdir()
    (work / "input.txt").write_text("given")
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    monkeypatch.setenv("PP_TEST_SECRET", "hunter2")
    probe = (
        "import os, json\n"
        "r = {'input': open('input.txt').read(), 'env': sorted(os.environ), 'home': os.environ['HOME']}\n"
        f"r['outside'] = os.path.exists({str(outside)!r})\n"
        f"r['tests'] = os.path.exists({str(REPO / 'tests')!r})\n"
        f"r['tasks'] = os.listdir({str(REPO / 'evals' / 'tasks')!r})\n"
        f"r['ssh'] = os.path.exists(os.path.expanduser('~/.ssh'))\n"
        "try:\n"
        f"    open({str(REPO / 'reference_impls' / 'planted.py')!r}, 'w'); r['repo_write'] = True\n"
        "except OSError: r['repo_write'] = False\n"
        "open('result.txt', 'w').write('made inside')\n"
        "print(json.dumps(r))\n"
    )
    result = _iso_run(probe, work)
    assert result.ok and result.containment == "full", result
    import json

    seen = json.loads(result.stdout_tail.strip().splitlines()[-1])
    assert seen["input"] == "given"
    assert "PP_TEST_SECRET" not in seen["env"] and seen["home"] == "/home/sandbox"
    assert not seen["outside"] and not seen["tests"] and seen["tasks"] == [] and not seen["ssh"]
    assert seen["repo_write"] is False and not (REPO / "reference_impls" / "planted.py").exists()
    assert (work / "result.txt").read_text() == "made inside"


@linux_only
def test_no_network_not_even_the_hosts_loopback(tmp_path):
    _full_or_skip()
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(3)
    port = server.getsockname()[1]
    try:
        code = ("import socket\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'stolen'); print('sent')\n"
                "except OSError as e: print('refused', e)\n")
        result = _iso_run(code, tmp_path)
        assert "refused" in result.stdout_tail, result
        with pytest.raises(OSError):  # nothing ever connected
            server.accept()
    finally:
        server.close()


@linux_only
def test_a_fork_flood_is_stopped(tmp_path):
    _full_or_skip()
    flood = ("import os, time\n"
             "n = 0\n"
             "while n < 5000:\n"
             "    try:\n"
             "        if os.fork() == 0:\n"
             "            time.sleep(60); os._exit(0)\n"
             "        n += 1\n"
             "    except OSError:\n"
             "        break\n"
             "print('forked', n, flush=True)\n"
             "time.sleep(60)\n")
    result = _iso_run(flood, tmp_path, max_processes=64, timeout_s=30)
    assert result.killed_reason in ("processes", "memory") or (result.stdout_tail and int(result.stdout_tail.split()[-1]) <= 70), result
    assert result.wall_s < 25


@linux_only
def test_a_memfd_counts_against_the_memory_cap(tmp_path):
    _full_or_skip()
    code = ("import os, time\n"
            "fd = os.memfd_create('hoard')\n"
            "block = b'x' * (1 << 20)\n"
            "for _ in range(4096): os.write(fd, block)\n"
            "print('kept 4 GB', flush=True); time.sleep(30)\n")
    result = _iso_run(code, tmp_path, memory_mb=200, timeout_s=60)
    assert result.killed_reason == "memory", result
    assert "kept 4 GB" not in result.stdout_tail


@linux_only
def test_disk_cap_holds_through_folders_and_symlinks(tmp_path):
    _full_or_skip()
    code = ("import os\n"
            "os.symlink('/tmp', 'elsewhere')\n"
            "written = 0\n"
            "try:\n"
            "    for i in range(400):\n"
            "        d = f'd{i}/e/f'; os.makedirs(d)\n"
            "        with open(f'{d}/blob', 'wb') as fh: fh.write(b'x' * (1 << 20))\n"
            "        with open(f'elsewhere/blob{i}', 'wb') as fh: fh.write(b'x' * (1 << 20))\n"
            "        written += 2\n"
            "except OSError as e: print('stopped', e.errno, written, flush=True)\n")
    result = _iso_run(code, tmp_path, disk_mb=32, tmp_mb=32, memory_mb=2048)
    assert "stopped" in result.stdout_tail, result
    assert int(result.stdout_tail.split()[-1]) <= 70
    assert not any(p.name.startswith("blob") for p in Path("/tmp").iterdir())  # the host's /tmp untouched
    assert (tmp_path / "elsewhere").exists() is False  # the symlink is not copied back out
    assert "symlink" in (result.copy_note or "")


@linux_only
def test_shared_memory_is_size_capped(tmp_path):
    _full_or_skip()
    code = ("import errno\n"
            "try:\n"
            "    with open('/dev/shm/fill', 'wb') as fh:\n"
            "        for _ in range(100): fh.write(b'x' * (1 << 20)); fh.flush()\n"
            "    print('wrote 100 MB')\n"
            "except OSError as e: print('full', errno.errorcode.get(e.errno))\n")
    result = _iso_run(code, tmp_path, shm_mb=32)
    assert "full ENOSPC" in result.stdout_tail, result


@linux_only
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_copy_in_refuses_symlinks_and_fifos(tmp_path, kind):
    _full_or_skip()
    secret = tmp_path / "secret.txt"
    secret.write_text("answer")
    work = tmp_path / "work"
    work.mkdir()
    if kind == "symlink":
        (work / "answer.txt").symlink_to(secret)
    else:
        os.mkfifo(work / "pipe")
    with pytest.raises(SandboxInputError):
        _iso_run("print('ran')", work)


@linux_only
def test_copy_out_skips_fifos_and_refuses_a_sparse_bomb(tmp_path):
    _full_or_skip()
    code = ("import os\n"
            "os.mkfifo('pipe')\n"
            "with open('sparse', 'wb') as fh: fh.truncate(40 << 20)\n"  # no blocks used, 40 MB to copy
            "open('ok.txt', 'w').write('fine')\n")
    result = _iso_run(code, tmp_path, disk_mb=64, max_copy_out_mb=16)
    assert result.returncode == 0, result
    assert not (tmp_path / "pipe").exists() and not (tmp_path / "sparse").exists()
    assert "not copied out" in (result.copy_note or "") and "16 MB" in result.copy_note, result.copy_note
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 1 << 20  # the host wrote nothing big


@linux_only
def test_a_file_beyond_the_disk_cap_cannot_even_be_made_sparse(tmp_path):
    _full_or_skip()
    code = ("try:\n"
            "    with open('sparse', 'wb') as fh: fh.truncate(1 << 30)\n"
            "    print('made')\n"
            "except OSError as e: print('refused', e.errno)\n")
    result = _iso_run(code, tmp_path, disk_mb=64)
    assert "refused" in result.stdout_tail, result


@linux_only
def test_the_isolated_job_dies_when_its_supervisor_is_killed(tmp_path):
    _full_or_skip()
    marker = f"pp-orphan-{uuid.uuid4().hex}"
    supervisor = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pytorch_patterns.reference_impls.sandbox import run_child, Isolation\n"
        f"run_child([sys.executable, '-c', 'import time; print(1, flush=True); time.sleep(120)', '{marker}'],\n"
        f"          timeout_s=120, memory_mb=None, max_output_bytes=1000, isolation=Isolation(workspace=Path({str(tmp_path)!r})))\n"
    )
    proc = subprocess.Popen([PY, "-c", supervisor], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not _live_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _live_with(marker), "the job never started"
        proc.kill()
        proc.wait(timeout=10)
        assert _gone(marker), "the job outlived its supervisor"
    finally:
        proc.kill()


@linux_only
@pytest.mark.parametrize("binary", ["/bin/false", "/nonexistent/bwrap"])
def test_without_a_working_bwrap_untrusted_code_is_refused_unless_weak_is_allowed(tmp_path, monkeypatch, binary):
    monkeypatch.setenv(BWRAP_ENV, binary)  # a kernel that refuses namespaces looks the same: bwrap fails
    monkeypatch.delenv("PP_ALLOW_WEAK_SANDBOX", raising=False)
    assert sandbox_level()[0] == "weak"
    marker = tmp_path / "ran"
    with pytest.raises(SandboxUnavailable):
        _iso_run(f"open({str(marker)!r}, 'w')", tmp_path)
    assert not marker.exists()
    monkeypatch.setenv("PP_ALLOW_WEAK_SANDBOX", "1")
    result = _iso_run(f"open({str(marker)!r}, 'w')", tmp_path)
    assert result.ok and result.containment == "weak" and marker.exists()


def test_a_venv_under_tmp_is_mounted_above_the_private_tmp(monkeypatch, tmp_path):
    """A checkout cloned under /tmp (its .venv there): the private /tmp must not hide the interpreter."""
    from pytorch_patterns.reference_impls import sandbox as sb

    venv = Path("/tmp") / f"pp-venv-probe-{os.getpid()}"
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(sys, "exec_prefix", str(venv))
    args = sb._bwrap_args(sb.Isolation(workspace=tmp_path / "ws"), cwd=None, env={"PATH": "/usr/bin:/bin"})
    tmpfs_at = next(i for i in range(len(args) - 1) if args[i] == "--tmpfs" and args[i + 1] == "/tmp")
    bind_at = next(i for i in range(len(args) - 2) if args[i] == "--ro-bind" and args[i + 2] == str(venv))
    assert bind_at > tmpfs_at, "the venv's bind comes before the private /tmp and is hidden by it"
