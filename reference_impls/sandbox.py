"""Run a command in a child process that cannot outlive, hang or flood its parent.

- The child starts a new session (its own process group); on timeout, cancel, memory or output overflow the whole
  group gets SIGTERM, then SIGKILL after a grace period, and whatever is left in the group after the child exits
  is killed too, so no grandchild survives.
- Memory: the resident memory of every process in the child's session is summed from /proc every poll and
  checked against the cap. (RLIMIT_AS is not used: torch reserves gigabytes of address space it never touches,
  and CUDA far more, so an address-space cap either kills healthy runs or has to be set too high to matter.)
- Pipes are drained by threads (a full pipe would block the child); only the last `max_output_bytes` of each
  stream are kept. stdout is also split into lines for `on_line`, which runs in the supervising thread.
- Every wait is bounded: the parent never hangs.

Standard library and pydantic only; used by the runner, compare and the eval harness.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

KilledReason = Literal["timeout", "memory", "cancelled", "output"]

POLL_S = 0.05
TERM_GRACE_S = 2.0
MAX_LINE_BYTES = 1 << 20  # longer stdout lines are cut (the rest of the line is dropped)
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ChildResult(BaseModel):
    pid: int | None = None  # also the child's process group and session id
    returncode: int | None  # negative: killed by that signal
    timed_out: bool
    killed_reason: KilledReason | None
    message: str | None = None  # a human-readable reason when the sandbox killed the child
    stdout_tail: str
    stderr_tail: str
    stdout_bytes: int = 0  # total bytes the child wrote, kept or not
    stderr_bytes: int = 0
    wall_s: float
    peak_rss_mb: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.killed_reason is None


class _Stream:
    """Drains one pipe in a thread: keeps a bounded tail, counts bytes, optionally splits lines into a queue."""

    def __init__(self, pipe, keep_bytes: int, lines: queue.Queue | None) -> None:
        self.pipe = pipe
        self.keep_bytes = keep_bytes
        self.lines = lines
        self.tail = bytearray()
        self.total = 0
        self.dropped = 0
        self._partial = bytearray()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self._lock:
                self.total += len(chunk)
                self.tail += chunk
                excess = len(self.tail) - self.keep_bytes
                if excess > 0:
                    del self.tail[:excess]
                    self.dropped += excess
            if self.lines is not None:
                self._split(chunk)
        if self.lines is not None and self._partial:
            self.lines.put(self._partial.decode("utf-8", "replace"))
            self._partial.clear()
        try:
            self.pipe.close()
        except OSError:
            pass

    def _split(self, chunk: bytes) -> None:
        self._partial += chunk
        while True:
            nl = self._partial.find(b"\n")
            if nl < 0:
                if len(self._partial) > MAX_LINE_BYTES:  # a flood without newlines: cut, do not grow forever
                    self.lines.put(self._partial[:MAX_LINE_BYTES].decode("utf-8", "replace"))
                    self._partial.clear()
                return
            line = self._partial[:nl]
            del self._partial[:nl + 1]
            self.lines.put(line[:MAX_LINE_BYTES].decode("utf-8", "replace").rstrip("\r"))

    def text(self) -> str:
        with self._lock:
            body = self.tail.decode("utf-8", "replace")
            if self.dropped:
                return f"[... {self.dropped} earlier bytes dropped ...]\n{body}"
            return body


def session_processes(sid: int) -> list[tuple[int, str, int]]:
    """(pid, state, rss_bytes) of every process whose session id is `sid` (Linux /proc; empty elsewhere)."""
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
            if int(rest[3]) == sid:
                found.append((int(entry), rest[0].decode(), int(rest[21]) * _PAGE_BYTES))
        except (IndexError, ValueError):
            continue
    return found


def group_rss_mb(sid: int) -> float:
    return sum(rss for _, state, rss in session_processes(sid) if state != "Z") / (1 << 20)


def live_session_pids(sid: int) -> list[int]:
    """Processes of the session that are still running (zombies waiting for a reaper do not count)."""
    return [pid for pid, state, _ in session_processes(sid) if state not in ("Z", "X")]


class Child:
    """A started child process in its own session. `run_child` is start + `supervise`; the runner's warm pool
    starts a child early (torch imported, waiting on stdin) and supervises it once a job is sent."""

    def __init__(self, argv: list[str], *, cwd: Path | None = None, env: dict | None = None,
                 max_output_bytes: int = 64_000, stdin_pipe: bool = False) -> None:
        if not argv:
            raise ValueError("argv is empty")
        self.started = time.monotonic()
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, start_new_session=True,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.pid = self.proc.pid  # == its process group id == its session id
        self.stdout = _Stream(self.proc.stdout, max_output_bytes, self.lines)
        self.stderr = _Stream(self.proc.stderr, max_output_bytes, None)

    def send(self, data: bytes) -> None:
        """Write `data` to the child's stdin and close it (the child reads until EOF or one line)."""
        if self.proc.stdin is None:
            raise RuntimeError("child was started without a stdin pipe")
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child died; supervise() reports how

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        # Processes that left the group (setpgid) but not the session are still ours.
        for pid in live_session_pids(self.pid):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def kill_group(self, grace_s: float = TERM_GRACE_S) -> None:
        """SIGTERM the whole group, SIGKILL what is left after `grace_s`, reap the child."""
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not live_session_pids(self.pid):
                break
            time.sleep(POLL_S)
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass  # uninterruptible sleep; nothing more we can do without hanging

    def supervise(self, *, timeout_s: float, memory_mb: int | None, max_output_bytes: int,
                  on_line: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                  max_total_output_bytes: int | None = None) -> ChildResult:
        self.stdout.keep_bytes = self.stderr.keep_bytes = max_output_bytes
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        peak_mb = 0.0
        reason: KilledReason | None = None
        message = None
        next_mem_check = 0.0
        while True:
            self._drain(on_line)
            if self.proc.poll() is not None:
                break
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                reason, message = "cancelled", "cancelled by the caller; process group killed"
            elif now >= deadline:
                reason, message = "timeout", f"timed out after {timeout_s:g} s; process group killed"
            elif (max_total_output_bytes is not None
                  and self.stdout.total + self.stderr.total > max_total_output_bytes):
                reason = "output"
                message = f"wrote more than {max_total_output_bytes} bytes of output; process group killed"
            elif now >= next_mem_check:
                rss = group_rss_mb(self.pid)
                # The /proc scan costs ~3 ms per 100 processes: keep it under ~5% of one core on busy hosts.
                next_mem_check = now + max(2 * POLL_S, 20 * (time.monotonic() - now))
                peak_mb = max(peak_mb, rss)
                if memory_mb is not None and rss > memory_mb:
                    reason = "memory"
                    message = (f"memory cap exceeded: the process group's resident memory reached {rss:.0f} MB "
                               f"(cap {memory_mb} MB); process group killed")
            if reason is not None:
                self.kill_group()
                break
            try:
                self.proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
        # The child is gone; anything it left behind in its group (daemons, stuck grandchildren) goes too,
        # otherwise they would hold the pipes open and the readers would never see EOF.
        if live_session_pids(self.pid):
            self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.stdout, self.stderr):
            stream.thread.join(timeout=2.0)
        self._drain(on_line)
        return ChildResult(
            pid=self.pid, returncode=self.proc.returncode, timed_out=reason == "timeout", killed_reason=reason, message=message,
            stdout_tail=self.stdout.text(), stderr_tail=self.stderr.text(), stdout_bytes=self.stdout.total,
            stderr_bytes=self.stderr.total, wall_s=time.monotonic() - t0, peak_rss_mb=round(peak_mb, 1),
        )

    def _drain(self, on_line: Callable[[str], None] | None) -> None:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if on_line is not None:
                on_line(line)


def run_child(argv: list[str], *, timeout_s: float, memory_mb: int | None, max_output_bytes: int,
              cwd: Path | None = None, env: dict | None = None, on_line: Callable[[str], None] | None = None,
              cancel: threading.Event | None = None, stdin_data: bytes | None = None,
              max_total_output_bytes: int | None = None) -> ChildResult:
    """Run `argv` to completion under a wall-clock timeout, a memory cap and an output cap.

    `max_output_bytes` bounds what is kept of each stream (the tail); `max_total_output_bytes`, if set, kills a
    child that writes more than that in total (killed_reason 'output').
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    child = Child(argv, cwd=cwd, env=env, max_output_bytes=max_output_bytes, stdin_pipe=stdin_data is not None)
    if stdin_data is not None:
        child.send(stdin_data)
    return child.supervise(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes,
                           on_line=on_line, cancel=cancel, max_total_output_bytes=max_total_output_bytes)
