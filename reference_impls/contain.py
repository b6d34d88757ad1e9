"""Containment for one sandboxed job: the small program between the supervisor and the job it runs.

    python -I -S contain.py CONFIG_JSON STATUS_FD -- ARGV...

Linux only; standard library only (it starts in ~20 ms and imports nothing of the project).

Process containment (always): this program makes itself a *child subreaper* (prctl), so every process the job
starts stays below it, even one that double-forks and calls setsid() to leave the session and process group.
When the job exits, every descendant left is killed before this program exits with the job's status; if the
supervisor dies, the same sweep runs.

Filesystem containment (CONFIG `isolate`, for untrusted code): the job runs in new user, mount and PID
namespaces. Every mount is read-only except the `writable` folders (CONFIG `read_only`, default true); `protected`
folders stay read-only even inside a writable one; `hidden` folders are replaced by empty ones (answers an agent
must not read); /dev/shm is a fresh private tmpfs (DataLoader workers need it) and /proc shows only the
namespace; the job has no capabilities left; it is PID 1's child in its own PID namespace, so when it ends the
kernel kills everything it left, and it cannot signal anything outside. The kernel can refuse namespaces (unprivileged user namespaces
switched off, seccomp in some containers, Linux < 5.12 for the recursive read-only remount): the job then runs
with process containment only, or not at all when CONFIG `required` is set (exit 125).

STATUS_FD receives one JSON line before the job starts: {"level": "namespaces" | "processes", "note": str}, or
{"error": str} when the job could not be started.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY = 0x1
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added after the syscall tables were unified)
EXIT_SETUP_FAILED = 125
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
POLL_S = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _set_readonly(path: str, readonly: bool) -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                        ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(ret, f"mount_setattr {path}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_namespaces() -> None:
    """New user + mount + PID namespaces; the calling process keeps its uid and gid inside."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), "unshare")
    try:
        _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map write
    except FileNotFoundError:
        pass
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def protect_filesystem(config: dict) -> None:
    """Every mount read-only except `writable` (unless `read_only` is false); `protected` read-only even inside a
    writable folder; `hidden` folders replaced by empty read-only ones; a private /dev/shm and /proc. Nothing
    propagates back to the host's mount table."""
    writable, hidden, protected = config.get("writable", []), config.get("hidden", []), config.get("protected", [])
    cwd = os.getcwd()
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    if config.get("read_only", True):
        for path in writable:
            _mount(path, path, None, MS_BIND | MS_REC)  # its own mount, so it can be made writable again below
        _set_readonly("/", True)
        for path in writable:
            _set_readonly(path, False)
    for path in protected:
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _set_readonly(path, True)
    for path in hidden:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND)
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={int(config.get('shm_mb', 1024))}m")
    # This namespace's own /proc: the job sees only its own processes. Required: through the host's /proc, a job
    # could reach other processes' root folders (/proc/PID/root), outside every mount above.
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(cwd)  # the old cwd still points below the read-only mount; look it up again through the new ones


def _report(fd: int, **fields) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, (json.dumps(fields) + "\n").encode())
    except OSError:
        pass
    os.close(fd)


def drop_privileges() -> None:
    """Empty the capability bounding set and forbid regaining privileges, so the job's exec leaves it with no
    capabilities in the new user namespace (else a job run by root could simply remount / read-write)."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            _check(-1, f"dropping capability {cap}")  # EINVAL (22) only means: no such capability
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _exec_job(argv: list[str], unprivileged: bool = False) -> None:
    """In a forked child: default signal handling and mask, then replace this process with the job."""
    try:
        if unprivileged:
            drop_privileges()
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


def run_init(config: dict, status_fd: int, result_w: int, argv: list[str]) -> None:
    """PID 1 of the new namespace: set up the mounts, start the job, reap orphans, pass signals on."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the outer process died: the whole namespace goes
    level, note = "namespaces", "user, mount and PID namespaces; all but the writable folders read-only"
    try:
        protect_filesystem(config)
    except OSError as exc:
        if config.get("required"):
            _report(status_fd, error=f"filesystem isolation refused by the kernel: {exc}")
            os._exit(EXIT_SETUP_FAILED)
        level, note = "processes", f"PID namespace only; files not protected ({exc})"
    _report(status_fd, level=level, note=note)
    job = os.fork()
    if job == 0:
        os.close(result_w)
        _exec_job(argv, unprivileged=True)
    # Signals from the outer process are passed to every process of the namespace (kill(-1) spares PID 1).
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: _kill(-1, s))
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == job:
            os.write(result_w, f"{status}\n".encode())
            os._exit(0)  # the kernel now kills whatever else is left in the namespace


def main(args: list[str]) -> None:
    if len(args) < 4 or args[2] != "--":
        sys.stderr.write("usage: contain.py CONFIG_JSON STATUS_FD -- ARGV...\n")
        os._exit(2)
    config, status_fd, argv = json.loads(args[0]), int(args[1]), args[3:]
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])  # waited for with sigtimedwait below
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError as exc:
        _report(status_fd, error=f"cannot become a child subreaper: {exc}")
        os._exit(EXIT_SETUP_FAILED)
    isolated, note = False, "child subreaper: every descendant is killed with the job; files not protected"
    if config.get("isolate"):
        try:
            enter_namespaces()
            isolated = True
        except OSError as exc:
            if config.get("required"):
                _report(status_fd, error=f"namespaces refused by the kernel: {exc}")
                os._exit(EXIT_SETUP_FAILED)
            note = f"namespaces refused by the kernel ({exc}); child subreaper only, files not protected"
    result_r, result_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(result_r)
        if isolated:
            run_init(config, status_fd, result_w, argv)
        os.close(result_w)
        _report(status_fd, level="processes", note=note)
        _exec_job(argv)
    os.close(result_w)
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
    if isolated:
        reported = os.read(result_r, 64).strip()
        if reported:  # the job's own status, as seen by PID 1
            status = int(reported)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
