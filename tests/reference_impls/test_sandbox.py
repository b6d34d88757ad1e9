"""The sandbox really kills, caps and reports: real child processes, grandchildren included."""

from __future__ import annotations

import os
import sys
import threading
import time

from reference_impls.sandbox import live_session_pids, run_child

PY = sys.executable


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
