"""Run a command in a child process that cannot outlive, hang, flood or (optionally) harm its parent.

- Containment (Linux): the command runs below `contain.py`, a child subreaper, so every process it starts stays
  in its process tree, even one that double-forks and calls setsid(); the whole tree is killed when the command
  ends, on timeout, cancel, memory or output overflow (SIGTERM, then SIGKILL after a grace period). With
  `Isolation` (for untrusted code) the command also runs in its own user, mount and PID namespaces with every
  folder read-only except the writable ones; `ChildResult.containment` records what the kernel allowed.
  Elsewhere the child gets its own session and process group, which are killed the same way.
- Memory: the resident memory of every process in the tree is summed from /proc every poll and checked against
  the cap. (RLIMIT_AS is not used: torch reserves gigabytes of address space it never touches, and CUDA far
  more, so an address-space cap either kills healthy runs or has to be set too high to matter.)
- Pipes are drained by threads (a full pipe would block the child); only the last `max_output_bytes` of each
  stream are kept. stdout is also split into lines for `on_line`, which runs in the supervising thread.
- Every wait is bounded: the parent never hangs.

Standard library and pydantic only; used by the runner, compare and the eval harness.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# The /proc reading lives in contain.py, which must stay standard-library only; the supervisor shares it.
from reference_impls.contain import ProcInfo, process_table, tree_processes

KilledReason = Literal["timeout", "memory", "cancelled", "output", "disk"]
# namespaces: processes contained and files outside the writable folders read-only; processes: every descendant
# is killed with the child (child subreaper); group: only the child's session and process group (not Linux).
Containment = Literal["group", "processes", "namespaces"]  # weakest first
CONTAIN_SCRIPT = Path(__file__).with_name("contain.py")
CONTAIN_SETUP_FAILED = 125


class Isolation(BaseModel):
    """Filesystem isolation for untrusted code: every mount read-only except `writable` (and a private /dev/shm).

    `protected` folders are read-only even inside a writable one; `hidden` folders look empty (a task's answers);
    `read_only=False` keeps the host's mounts writable (hidden and protected still apply)."""

    writable: list[Path] = Field(default_factory=list)
    hidden: list[Path] = Field(default_factory=list)
    protected: list[Path] = Field(default_factory=list)
    read_only: bool = True
    required: bool = False  # refuse to run (rather than run with process containment only) if the kernel says no
    disk_mb: int | None = Field(None, ge=1)  # cap on the bytes under the writable folders (checked by polling)
    shm_mb: int = Field(1024, ge=16)  # size of the private /dev/shm (tmpfs pages are memory no RSS shows)


def folder_bytes(paths: list[Path], limit: int | None = None) -> int:
    """Total size of the regular files under `paths` (symlinks not followed); stops counting past `limit`."""
    total = 0
    todo = [str(p) for p in paths]
    while todo:
        try:
            entries = os.scandir(todo.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
                if limit is not None and total > limit:
                    return total
    return total

POLL_S = 0.05
TERM_GRACE_S = 2.0
MAX_LINE_BYTES = 1 << 20  # longer stdout lines are cut (the rest of the line is dropped)


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
    containment: Containment | None = None  # what the kernel allowed (None: the child never reported)
    containment_note: str | None = None

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
    """(pid, state, rss_bytes) of every process whose session id is `sid`."""
    return [(p.pid, p.state, p.rss) for p in process_table() if p.sid == sid]


def live_session_pids(sid: int) -> list[int]:
    """Processes of the session that are still running (zombies waiting for a reaper do not count)."""
    return [pid for pid, state, _ in session_processes(sid) if state not in ("Z", "X")]


class Child:
    """A started child process, contained (see the module doc). `run_child` is start + `supervise`; the runner's
    warm pool starts a child early (torch imported, waiting on stdin) and supervises it once a job is sent."""

    def __init__(self, argv: list[str], *, cwd: Path | None = None, env: dict | None = None,
                 max_output_bytes: int = 64_000, stdin_pipe: bool = False, isolation: Isolation | None = None) -> None:
        if not argv:
            raise ValueError("argv is empty")
        self.started = time.monotonic()
        self.lines: queue.Queue[str] = queue.Queue()
        self.status: dict = {}
        status_r = status_w = None
        if sys.platform.startswith("linux"):
            status_r, status_w = os.pipe()
            config = {"isolate": isolation is not None}
            if isolation is not None:
                config.update(required=isolation.required, shm_mb=isolation.shm_mb, read_only=isolation.read_only,
                              **{key: [str(Path(x).resolve()) for x in getattr(isolation, key)]
                                 for key in ("writable", "hidden", "protected")})
            argv = [sys.executable, "-I", "-S", str(CONTAIN_SCRIPT), json.dumps(config), str(status_w), "--", *argv]
        else:
            self.status = {"level": "group", "note": "not Linux: the child's session and process group are killed"}
        try:
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env, start_new_session=True,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=() if status_w is None else (status_w,),
            )
        finally:
            if status_w is not None:
                os.close(status_w)
        self.pid = self.proc.pid  # == its process group id == its session id
        self.isolation = isolation
        self.stdout = _Stream(self.proc.stdout, max_output_bytes, self.lines)
        self.stderr = _Stream(self.proc.stderr, max_output_bytes, None)
        self._status_thread = None
        if status_r is not None:
            self._status_thread = threading.Thread(target=self._read_status, args=(status_r,), daemon=True)
            self._status_thread.start()

    def _read_status(self, fd: int) -> None:
        """contain.py writes one JSON line before the command starts (or why it could not start)."""
        data = b""
        try:
            while len(data) < 65536:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        finally:
            os.close(fd)
        try:
            self.status = json.loads(data.decode("utf-8", "replace").strip() or "{}")
        except ValueError:
            self.status = {"error": f"unreadable containment status: {data[:200]!r}"}

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

    def processes(self) -> list[ProcInfo]:
        """The child and everything below it: its process tree, plus its session (for processes that left the
        tree on systems without a subreaper)."""
        table = process_table()
        seen = {p.pid: p for p in tree_processes(self.pid, table)}
        for proc in table:
            if proc.sid == self.pid:
                seen.setdefault(proc.pid, proc)
        return list(seen.values())

    def live_processes(self) -> list[ProcInfo]:
        return [p for p in self.processes() if p.live]

    def rss_mb(self) -> float:
        return sum(p.rss for p in self.live_processes()) / (1 << 20)

    def _signal_all(self, sig: int, *, descendants_only: bool = False) -> int:
        """Send `sig` to the child's group and every live process below it; returns how many were signalled."""
        if not descendants_only:
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        count = 0
        for proc in self.processes():
            if not proc.live or (descendants_only and proc.pid == self.pid):
                continue
            try:
                os.kill(proc.pid, sig)
                count += 1
            except (ProcessLookupError, PermissionError):
                pass
        return count

    def kill_group(self, grace_s: float = TERM_GRACE_S) -> None:
        """SIGTERM the whole tree, SIGKILL what is left after `grace_s`, reap the child.

        SIGKILL goes to the descendants first, pass after pass, while the child (the subreaper) still lives:
        orphans of killed processes are re-parented to it and found on the next pass. The child goes last.
        """
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not self.live_processes():
                break
            time.sleep(POLL_S)
        for _ in range(100):
            if self.proc.poll() is not None or not self._signal_all(signal.SIGKILL, descendants_only=True):
                break
            time.sleep(0.01)
        self._signal_all(signal.SIGKILL)
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
        next_mem_check = next_disk_check = 0.0
        disk = self.isolation.disk_mb if self.isolation is not None else None
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
                rss = self.rss_mb()
                # The /proc scan costs ~3 ms per 100 processes: keep it under ~5% of one core on busy hosts.
                next_mem_check = now + max(2 * POLL_S, 20 * (time.monotonic() - now))
                peak_mb = max(peak_mb, rss)
                if memory_mb is not None and rss > memory_mb:
                    reason = "memory"
                    message = (f"memory cap exceeded: the process tree's resident memory reached {rss:.0f} MB "
                               f"(cap {memory_mb} MB); process group killed")
            if reason is None and disk is not None and now >= next_disk_check:
                used = folder_bytes(self.isolation.writable, limit=disk << 20) / (1 << 20)
                next_disk_check = now + max(0.5, 20 * (time.monotonic() - now))
                if used > disk:
                    reason = "disk"
                    message = (f"disk cap exceeded: more than {disk} MB written under the writable folders; "
                               "process group killed")
            if reason is not None:
                self.kill_group()
                break
            try:
                self.proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
        # The child is gone; anything it left behind in its group (daemons, stuck grandchildren) goes too,
        # otherwise they would hold the pipes open and the readers would never see EOF.
        if self.live_processes():
            self._signal_all(signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.stdout, self.stderr):
            stream.thread.join(timeout=2.0)
        self._drain(on_line)
        if self._status_thread is not None:
            self._status_thread.join(timeout=2.0)
        if self.status.get("error") and message is None:
            message = f"sandbox could not start the command: {self.status['error']}"
        return ChildResult(
            pid=self.pid, returncode=self.proc.returncode, timed_out=reason == "timeout", killed_reason=reason, message=message,
            stdout_tail=self.stdout.text(), stderr_tail=self.stderr.text(), stdout_bytes=self.stdout.total,
            stderr_bytes=self.stderr.total, wall_s=time.monotonic() - t0, peak_rss_mb=round(peak_mb, 1),
            containment=self.status.get("level"), containment_note=self.status.get("note") or self.status.get("error"),
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
              max_total_output_bytes: int | None = None, isolation: Isolation | None = None) -> ChildResult:
    """Run `argv` to completion under a wall-clock timeout, a memory cap and an output cap.

    `max_output_bytes` bounds what is kept of each stream (the tail); `max_total_output_bytes`, if set, kills a
    child that writes more than that in total (killed_reason 'output').
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    child = Child(argv, cwd=cwd, env=env, max_output_bytes=max_output_bytes, stdin_pipe=stdin_data is not None,
                  isolation=isolation)
    if stdin_data is not None:
        child.send(stdin_data)
    return child.supervise(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes,
                           on_line=on_line, cancel=cancel, max_total_output_bytes=max_total_output_bytes)
