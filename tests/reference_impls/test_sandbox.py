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

from reference_impls.sandbox import CONTAIN_SETUP_FAILED, Isolation, live_session_pids, run_child

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
    assert result.containment in ("processes", "namespaces"), result.containment_note
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
        "from reference_impls.sandbox import run_child\n"
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


def _namespaces_or_skip(result) -> None:
    if result.containment != "namespaces":
        pytest.skip(f"the kernel refused namespaces here: {result.containment_note}")


@linux_only
def test_isolation_makes_everything_but_the_writable_folder_read_only(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    script = (
        "import ctypes, os, shutil, sys\n"
        "open('made-here.txt', 'w').write('ok')\n"
        f"victim = {str(victim)!r}\n"
        "for attack in (lambda: os.remove(victim), lambda: open(victim, 'w'),\n"
        "               lambda: shutil.rmtree(os.path.dirname(victim)), lambda: open(os.path.expanduser('~/pp-x'), 'w')):\n"
        "    try:\n"
        "        attack()\n"
        "        print('WRITE ALLOWED', flush=True)\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno, flush=True)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "# as root in its namespace it would own the mounts: make / read-write again, then delete\n"
        "print('remount', libc.mount(None, b'/', None, 32 | 4096 | 16384, None), ctypes.get_errno(), flush=True)\n"
        "try:\n"
        "    os.remove(victim)\n"
        "    print('DELETED AFTER REMOUNT', flush=True)\n"
        "except OSError:\n"
        "    pass\n"
        "open('/dev/shm/pp-shm-probe', 'w').write('shared memory works')\n"
        "print('pids visible', len([p for p in os.listdir('/proc') if p.isdigit()]), flush=True)\n"
    )
    result = run_child([PY, "-c", script], timeout_s=60, memory_mb=None, max_output_bytes=10_000, cwd=work,
                       env=dict(os.environ, HOME=str(tmp_path)), isolation=Isolation(writable=[work]))
    _namespaces_or_skip(result)
    assert result.returncode == 0, result.stderr_tail
    out = result.stdout_tail
    assert "ALLOWED" not in out and "DELETED" not in out, out
    assert out.count("refused") == 4
    assert victim.read_text() == "keep me"
    assert (work / "made-here.txt").read_text() == "ok"
    assert not (tmp_path / "pp-x").exists()
    assert not os.path.exists("/dev/shm/pp-shm-probe"), "/dev/shm must be private to the job"


@linux_only
def test_isolation_kills_everything_left_in_the_namespace(tmp_path):
    marker = f"pp-ns-{uuid.uuid4().hex}"
    result = run_child([PY, "-c", _escapee(marker)], timeout_s=30, memory_mb=None, max_output_bytes=10_000,
                       cwd=tmp_path, isolation=Isolation(writable=[tmp_path]))
    _namespaces_or_skip(result)
    assert result.returncode == 0 and "escaped" in result.stdout_tail
    assert _gone(marker)


@linux_only
def test_required_isolation_that_cannot_be_set_up_refuses_to_run(tmp_path):
    missing = tmp_path / "does-not-exist"
    marker = tmp_path / "ran.txt"
    result = run_child([PY, "-c", f"open({str(marker)!r}, 'w')"], timeout_s=30, memory_mb=None,
                       max_output_bytes=10_000, isolation=Isolation(writable=[missing], required=True))
    assert result.returncode == CONTAIN_SETUP_FAILED and not result.ok
    assert "sandbox could not start the command" in result.message
    assert not marker.exists()
    # Not required: the command runs, with the weaker containment recorded.
    relaxed = run_child([PY, "-c", "print('ran')"], timeout_s=30, memory_mb=None, max_output_bytes=10_000,
                        isolation=Isolation(writable=[missing]))
    assert relaxed.returncode == 0 and relaxed.stdout_tail.strip() == "ran"
    assert relaxed.containment == "processes" and relaxed.containment_note


@linux_only
def test_disk_cap_stops_a_job_filling_its_writable_folder(tmp_path):
    script = ("import os\n"
              "block = os.urandom(1 << 20)\n"
              "with open('fill.bin', 'wb') as fh:\n"
              "    while True:\n"
              "        fh.write(block)\n"
              "        fh.flush()\n")
    result = run_child([PY, "-c", script], timeout_s=60, memory_mb=None, max_output_bytes=10_000, cwd=tmp_path,
                       isolation=Isolation(writable=[tmp_path], disk_mb=64))
    assert result.killed_reason == "disk" and "disk cap exceeded" in result.message
    assert (tmp_path / "fill.bin").stat().st_size < 1 << 30  # stopped long before filling the disk


@linux_only
def test_private_shared_memory_is_size_capped(tmp_path):
    script = ("import errno\n"
              "block = b'x' * (1 << 20)\n"
              "written = 0\n"
              "try:\n"
              "    with open('/dev/shm/pp-fill', 'wb') as fh:\n"
              "        for _ in range(200):\n"
              "            fh.write(block)\n"
              "            fh.flush()\n"
              "            written += 1\n"
              "except OSError as exc:\n"
              "    print('full', exc.errno == errno.ENOSPC, written, flush=True)\n")
    result = run_child([PY, "-c", script], timeout_s=60, memory_mb=None, max_output_bytes=10_000, cwd=tmp_path,
                       isolation=Isolation(writable=[tmp_path], shm_mb=32))
    _namespaces_or_skip(result)
    words = result.stdout_tail.split()
    assert words[:2] == ["full", "True"] and int(words[2]) <= 32, result.stdout_tail


@linux_only
@pytest.mark.parametrize("read_only", [True, False])
def test_hidden_folders_look_empty_and_protected_ones_stay_read_only(tmp_path, read_only):
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "oracle.py").write_text("the answer")
    home = tmp_path / "home"
    repo = home / "repo"
    repo.mkdir(parents=True)
    (repo / "harness.py").write_text("score = compute()")
    elsewhere = tmp_path / "elsewhere.txt"
    script = (
        "import os\n"
        f"print('hidden lists', os.listdir({str(answers)!r}), flush=True)\n"
        f"for path in ({str(answers / 'oracle.py')!r}, {str(repo / 'harness.py')!r}, {str(elsewhere)!r},\n"
        f"             {str(home / 'notes.txt')!r}):\n"
        "    try:\n"
        "        with open(path, 'a') as fh:\n"
        "            fh.write('x')\n"
        "        print('wrote', os.path.basename(path), flush=True)\n"
        "    except OSError as exc:\n"
        "        print('refused', os.path.basename(path), exc.errno, flush=True)\n"
        "libc = __import__('ctypes').CDLL(None, use_errno=True)\n"
        f"print('umount', libc.umount2({str(answers)!r}.encode(), 2), flush=True)  # MNT_DETACH: reveal it?\n"
        f"print('after', os.listdir({str(answers)!r}), flush=True)\n"
    )
    result = run_child([PY, "-c", script], timeout_s=60, memory_mb=None, max_output_bytes=10_000, cwd=home,
                       isolation=Isolation(writable=[home], hidden=[answers], protected=[repo], read_only=read_only))
    _namespaces_or_skip(result)
    out = result.stdout_tail
    assert "hidden lists []" in out and "after []" in out and "umount -1" in out, out
    assert "refused oracle.py" in out and "refused harness.py" in out, out
    assert "wrote notes.txt" in out, out  # the writable home
    assert ("refused elsewhere.txt" if read_only else "wrote elsewhere.txt") in out, out
    assert (answers / "oracle.py").read_text() == "the answer"
    assert (repo / "harness.py").read_text() == "score = compute()"
