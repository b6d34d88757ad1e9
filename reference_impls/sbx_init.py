"""The small program that runs first inside a bubblewrap sandbox, below bwrap's PID 1, before the job.

    python -I -S sbx_init.py CONFIG_JSON -- ARGV...

Standard library only, started with -I -S (it imports nothing of the project and nothing the job could plant).

1. Copy-in: reads the archive the trusted parent wrote (CONFIG `archive_fd`: a regular file it opened) and
   unpacks it into the size-capped tmpfs workspace and private home. The parent already refused symlinks,
   FIFOs, devices and oversize files; this side refuses absolute paths and `..` again.
2. Limits for the job: RLIMIT_NPROC (counted per user namespace: the sandbox's own processes; the kernel
   exempts a host root, so the supervisor also counts processes), RLIMIT_FSIZE (no single file, memfds
   included, beyond the cap), RLIMIT_CORE 0. This process makes itself non-dumpable so the job (same uid)
   can neither ptrace it nor open its control pipes through /proc.
3. Runs the job, waits for it; then kills every other process of the PID namespace (kill(-1)).
4. Copy-out (CONFIG `out_fd`, a pipe the parent reads with a byte cap): the workspace's regular files only;
   symlinks, FIFOs, sockets and devices are skipped and named. The parent parses it again with its own caps:
   nothing this program sends is trusted beyond "bytes the job could have written anyway".

CONFIG `status_fd` receives {"started": true} before the job runs and {"exit": wait_status, "skipped": [...]}
at the end.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import sys
import time

CHUNK = 1 << 20
PR_SET_DUMPABLE = 4


def _safe_rel(rel: str) -> str:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or rel.startswith("/") or any(p == ".." for p in parts):
        raise ValueError(f"bad archive path {rel!r}")
    return "/".join(parts)


def _read_exact(fd: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, min(CHUNK, n - len(out)))
        if not chunk:
            raise EOFError("archive ended early")
        out += chunk
    return bytes(out)


def _readline(fd: int) -> bytes:
    out = bytearray()
    while True:
        ch = os.read(fd, 1)
        if not ch or ch == b"\n":
            return bytes(out)
        out += ch
        if len(out) > 65536:
            raise ValueError("archive header too long")


def unpack(fd: int, roots: dict[str, str]) -> None:
    while True:
        head = json.loads(_readline(fd) or b'{"t": "end"}')
        if head["t"] == "end":
            return
        base = roots[head["root"]]
        path = os.path.join(base, _safe_rel(head["p"]))
        if head["t"] == "d":
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if head.get("x") else 0o644)
        try:
            left = int(head["n"])
            while left:
                chunk = _read_exact(fd, min(CHUNK, left))
                os.write(out, chunk)
                left -= len(chunk)
        finally:
            os.close(out)


def pack(fd: int, root: str) -> list[str]:
    """Stream the regular files under `root` (symlinks not followed); returns what was skipped."""
    skipped: list[str] = []

    def emit(head: dict, body_fd: int | None = None, size: int = 0) -> None:
        os.write(fd, (json.dumps(head) + "\n").encode())
        left = size
        while body_fd is not None and left > 0:
            chunk = os.read(body_fd, min(CHUNK, left))
            if not chunk:
                raise EOFError("file shrank while copying out")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            left -= len(chunk)

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(full):
                skipped.append(f"{rel} (symlink)")
                dirnames.remove(name)
            else:
                emit({"t": "d", "root": "ws", "p": rel})
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                kind = "symlink" if stat.S_ISLNK(st.st_mode) else "FIFO" if stat.S_ISFIFO(st.st_mode) else "special file"
                skipped.append(f"{rel} ({kind})")
                continue
            try:
                body = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError as exc:
                skipped.append(f"{rel} ({exc.strerror})")
                continue
            try:
                st = os.fstat(body)
                if not stat.S_ISREG(st.st_mode):
                    skipped.append(f"{rel} (not a regular file)")
                    continue
                emit({"t": "f", "root": "ws", "p": rel, "n": st.st_size, "x": bool(st.st_mode & 0o111)}, body, st.st_size)
            finally:
                os.close(body)
    emit({"t": "end"})
    return skipped


def _report(fd: int, **fields) -> None:
    try:
        os.write(fd, (json.dumps(fields) + "\n").encode())
    except OSError:
        pass


def _kill_everything_else() -> None:
    for _ in range(3):
        try:
            os.kill(-1, signal.SIGKILL)  # every process of this PID namespace but bwrap's init and this one
        except OSError:
            return  # ESRCH: nothing left
        time.sleep(0.005)


def main(args: list[str]) -> None:
    config, argv = json.loads(args[0]), args[2:]
    status_fd = int(config["status_fd"])
    control = [status_fd, int(config["archive_fd"])] + ([int(config["out_fd"])] if config.get("out_fd") is not None else [])
    for fd in control:
        os.set_inheritable(fd, False)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    try:
        unpack(int(config["archive_fd"]), {"ws": config["workspace"], "home": config["home"]})
        os.close(int(config["archive_fd"]))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        _report(status_fd, error=f"copy-in failed: {exc}")
        os._exit(125)
    _report(status_fd, started=True)
    job = os.fork()
    if job == 0:
        try:
            nproc = int(config.get("nproc") or 0)
            if nproc:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            fsize = int(config.get("fsize") or 0)
            if fsize:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.chdir(config.get("cwd") or config["workspace"])
            os.execvp(argv[0], argv)
        except BaseException as exc:  # noqa: BLE001 -- say why, leave at once
            os.write(2, f"sandbox: cannot run {argv[0]!r}: {exc}\n".encode())
            os._exit(127)
    signal.signal(signal.SIGTERM, lambda s, f: os.kill(job, s))
    while True:
        try:
            pid, status = os.waitpid(job, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            status = 1 << 8
            break
    _kill_everything_else()
    skipped: list[str] = []
    if config.get("out_fd") is not None:
        try:
            skipped = pack(int(config["out_fd"]), config["workspace"])
        except (OSError, EOFError) as exc:
            skipped = [f"copy-out stopped: {exc}"]
        try:
            os.close(int(config["out_fd"]))
        except OSError:
            pass
    _report(status_fd, exit=status, skipped=skipped[:50])
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
