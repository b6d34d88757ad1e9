"""Containment for one sandboxed job: the small program between the supervisor and the job it runs.

    python -I -S contain.py CONFIG_JSON STATUS_FD -- ARGV...

Linux only; standard library only (it starts in ~20 ms and imports nothing of the project).

Process containment (always): this program makes itself a *child subreaper* (prctl), so every process the job
starts stays below it, even one that double-forks and calls setsid() to leave the session and process group.
When the job exits, every descendant left is killed before this program exits with the job's status; if the
supervisor dies, the same sweep runs.

This is the `weak` level (and what the user's own reference runs get): files, network and environment are not
isolated. Untrusted code runs under bubblewrap instead (`full`, see sandbox.py), whose PID namespace and
--die-with-parent do the same job there.

STATUS_FD receives one JSON line before the job starts: {"level": "weak", "note": str}, or {"error": str} when
the job could not be started. CONFIG_JSON is accepted for compatibility and ignored.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
EXIT_SETUP_FAILED = 125
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
POLL_S = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _report(fd: int, **fields) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, (json.dumps(fields) + "\n").encode())
    except OSError:
        pass
    os.close(fd)


def _exec_job(argv: list[str]) -> None:
    """In a forked child: default signal handling and mask, then replace this process with the job."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for sig in (*FORWARDED, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.execvp(argv[0], argv)
    except BaseException as exc:  # noqa: BLE001 -- report why the job could not start, then leave at once
        os.write(2, f"contain: cannot run {argv[0]!r}: {exc}\n".encode())
        os._exit(127)


class ProcInfo(tuple):
    """(pid, ppid, sid, state, rss_bytes) of one process, from /proc/<pid>/stat."""

    __slots__ = ()
    pid = property(lambda self: self[0])
    ppid = property(lambda self: self[1])
    sid = property(lambda self: self[2])
    state = property(lambda self: self[3])
    rss = property(lambda self: self[4])

    @property
    def live(self) -> bool:
        return self.state not in ("Z", "X")  # zombies wait for a reaper; they hold no memory and run nothing


def process_table() -> list[ProcInfo]:
    """Every process of this PID namespace (Linux /proc; empty elsewhere)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue  # exited meanwhile
        rest = raw[raw.rfind(b")") + 2:].split()
        # Fields after "pid (comm)": state ppid pgrp session ...; rss (pages) is field 24 overall.
        try:
            found.append(ProcInfo((int(entry), int(rest[1]), int(rest[3]), rest[0].decode(), int(rest[21]) * PAGE_BYTES)))
        except (IndexError, ValueError):
            continue
    return found


def tree_processes(root: int, table: list[ProcInfo] | None = None) -> list[ProcInfo]:
    """`root` and all its descendants (by parent links), live or zombie."""
    table = process_table() if table is None else table
    children: dict[int, list[ProcInfo]] = {}
    out = []
    for proc in table:
        children.setdefault(proc.ppid, []).append(proc)
        if proc.pid == root:
            out.append(proc)
    todo = [root]
    while todo:
        for proc in children.get(todo.pop(), []):
            out.append(proc)
            todo.append(proc.pid)
    return out


def _live_descendants(root: int) -> list[int]:
    return [p.pid for p in tree_processes(root) if p.live and p.pid != root]


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass  # already gone


def _reap() -> dict[int, int]:
    """Collect every exited child without blocking: {pid: wait status}."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = status


def sweep() -> None:
    """SIGKILL every descendant; orphans of killed processes come back to us (subreaper) and go next pass."""
    for _ in range(100):
        pids = _live_descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            _kill(pid, signal.SIGKILL)
        signal.sigtimedwait([signal.SIGCHLD], 0.02)
        _reap()


def _exit_like(status: int) -> None:
    """Leave with the job's exit code, or die of the signal that killed it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main(args: list[str]) -> None:
    if len(args) < 4 or args[2] != "--":
        sys.stderr.write("usage: contain.py CONFIG_JSON STATUS_FD -- ARGV...\n")
        os._exit(2)
    status_fd, argv = int(args[1]), args[3:]
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])  # waited for with sigtimedwait below
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError as exc:
        _report(status_fd, error=f"cannot become a child subreaper: {exc}")
        os._exit(EXIT_SETUP_FAILED)
    result_r, result_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(result_r)
        os.close(result_w)
        _report(status_fd, level="weak", note="process containment only (child subreaper): every descendant is "
                "killed with the job; files, network and environment not isolated")
        _exec_job(argv)
    os.close(result_w)
    os.close(result_r)
    if status_fd >= 0:
        os.close(status_fd)
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: _kill(child, s))
    status = None
    while status is None:
        signal.sigtimedwait([signal.SIGCHLD], POLL_S)
        status = _reap().get(child)
        if status is None and os.getppid() != parent:  # the supervisor died: nobody will ever stop the job
            sweep()
            os._exit(1)
    sweep()
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
