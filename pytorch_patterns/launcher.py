"""Start the MCP server from a plugin folder, building its environment on first use (standard library only).

Claude Code runs `bin/pytorch-patterns-mcp` from the plugin's folder (`${CLAUDE_PLUGIN_ROOT}`), which runs this file
with any Python >= 3.11 it finds. The server needs no torch, so its environment holds only the distribution's
light dependencies (mcp, pydantic, rich, pyyaml); the code itself is always the plugin folder's (on `PYTHONPATH`), so a
plugin update never runs stale code. In order:

1. a development checkout's own `.venv` (what `make install` made) when it can import the package;
2. the environment in `$PYTORCH_PATTERNS_ENV`, else `$CLAUDE_PLUGIN_DATA/venv` (Claude Code's persistent folder for
   the plugin, which survives updates), else `~/.cache/pytorch-patterns/venv`: reused when its stamp matches the
   dependency list, otherwise (re)built with `uv` when it is on PATH, else `python -m venv` + pip.

The build runs in its own session and finishes even if the client gives up waiting (the next start reuses it); two
starts at once build it once (a file lock). Progress and any failure go to stderr, which MCP clients show in their
log. Nothing is written inside the plugin folder.

First start over stdio: a client waits ~30 s for the handshake (Claude Code's MCP_TIMEOUT), and the build can take
longer on a slow or busy machine. So while it builds, this process answers `initialize` itself, holds every later
message, and when the environment is ready starts the real server, replays the handshake to it and pipes both ways.
If the build fails, every held request gets an error that says why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = ".pytorch-patterns-stamp"


def say(msg: str) -> None:
    print(f"pytorch-patterns: {msg}", file=sys.stderr, flush=True)


def dependencies(root: Path = ROOT) -> list[str]:
    with open(root / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def env_dir() -> Path:
    if os.environ.get("PYTORCH_PATTERNS_ENV"):
        return Path(os.environ["PYTORCH_PATTERNS_ENV"]).expanduser()
    if os.environ.get("CLAUDE_PLUGIN_DATA"):
        return Path(os.environ["CLAUDE_PLUGIN_DATA"]).expanduser() / "venv"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "pytorch-patterns" / "venv"


def stamp_of(deps: list[str]) -> str:
    text = json.dumps({"deps": deps, "python": sys.version_info[:2]})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ready(env: Path, stamp: str) -> bool:
    try:
        return env_python(env).exists() and (env / STAMP).read_text().strip() == stamp
    except OSError:
        return False


def build_commands(env: Path, deps: list[str]) -> list[list[str]]:
    uv = shutil.which("uv")
    py = str(env_python(env))
    if uv:
        return [[uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(env)],
                [uv, "pip", "install", "--quiet", "--python", py, *deps]]
    return [[sys.executable, "-m", "venv", "--clear", str(env)],
            [py, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check", *deps]]


def build(env: Path, deps: list[str], stamp: str, log_path: Path) -> int:
    """`launcher.py --build`: build the environment under a file lock (a second builder waits, then finds it ready)."""
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(env.parent / (env.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready(env, stamp):
            return 0
        with open(log_path, "w") as log:
            for cmd in build_commands(env, deps):
                log.write("$ " + " ".join(cmd) + "\n")
                log.flush()
                code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
                if code != 0:
                    return code
        (env / STAMP).write_text(stamp)
    return 0


def ensure_env(env: Path, deps: list[str], stamp: str) -> None:
    """Build in a child of its own session, so it finishes even if the client stops waiting for this process (the
    next start then finds the environment ready)."""
    env.parent.mkdir(parents=True, exist_ok=True)
    log_path = env.parent / (env.name + ".build.log")
    tool = "uv" if shutil.which("uv") else "pip"
    names = ", ".join(re.split(r"[<>=!~ \[]", d, maxsplit=1)[0] for d in deps)
    say(f"first start: installing the server's dependencies ({names}; no torch) into {env} with {tool}; "
        f"this takes 5-60 s once (log: {log_path})")
    started = time.monotonic()
    code = subprocess.Popen([sys.executable, "-I", __file__, "--build", str(env), str(log_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True).wait()
    if code != 0 or not ready(env, stamp):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:] if log_path.exists() else []
        say(f"could not install the server's dependencies (exit {code}); last lines of {log_path}:")
        for line in tail:
            print("    " + line, file=sys.stderr)
        say("check access to the package index and that this Python has venv, or install by hand "
            f"(pip install {ROOT}) and configure the server command as `pytorch-patterns serve`")
        raise SystemExit(1)
    say(f"environment ready in {time.monotonic() - started:.0f} s")


def dev_python(root: Path = ROOT) -> Path | None:
    """A development checkout's `.venv` that has the package (editable install)."""
    py = root / ".venv" / "bin" / "python"
    if not py.exists():
        return None
    ok = subprocess.run([str(py), "-c", "import pytorch_patterns, mcp"], capture_output=True, cwd="/")
    return py if ok.returncode == 0 else None


PROTOCOLS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
CAPABILITIES = {"completions": {}, "prompts": {"listChanged": False},
                "resources": {"listChanged": False, "subscribe": False}, "tools": {"listChanged": False}}


def _write(out, msg: dict) -> None:
    out.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
    out.flush()


def bootstrap_stdio(env: Path, deps: list[str], stamp: str, argv: list[str]) -> int:
    """Answer the handshake now, build, then hand the session to the real server (see the module docstring)."""
    import threading

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = stdin.readline()
    try:
        init = json.loads(first)
    except ValueError:
        init = None
    if not isinstance(init, dict) or init.get("method") != "initialize":
        ensure_env(env, deps, stamp)  # not an MCP handshake: nothing to hold; build, then behave as usual
        return _serve_after(env, argv, first, None)
    version = (init.get("params") or {}).get("protocolVersion")
    _write(stdout, {"jsonrpc": "2.0", "id": init.get("id"), "result": {
        "protocolVersion": version if version in PROTOCOLS else PROTOCOLS[-1], "capabilities": CAPABILITIES,
        "serverInfo": {"name": "pytorch-patterns", "version": _version()},
        "instructions": "pytorch-patterns is installing its dependencies (first start); requests are answered when it is ready."}})
    held: list[bytes] = []
    done = threading.Event()

    def hold() -> None:
        for line in iter(stdin.readline, b""):
            held.append(line)
            if done.is_set():
                return
        held.append(b"")  # the client closed stdin

    reader = threading.Thread(target=hold, daemon=True)
    reader.start()
    try:
        ensure_env(env, deps, stamp)
    except SystemExit:
        done.set()
        for line in held:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and "id" in msg and "method" in msg:
                _write(stdout, {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32603, "message":
                       "pytorch-patterns could not install its dependencies; see the client's MCP log for the reason"}})
        return 1
    done.set()
    return _serve_after(env, argv, first, held)


def _serve_after(env: Path, argv: list[str], first: bytes, held: list[bytes] | None) -> int:
    """Start the real server, replay what the client sent so far, then pipe both ways until it exits."""
    import threading

    proc = subprocess.Popen([str(env_python(env)), "-P", "-m", "pytorch_patterns", "serve", *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=_server_env())
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(first)
    proc.stdin.flush()
    if held is not None:
        proc.stdout.readline()  # the real server's answer to the replayed initialize: the client already has one

    def pump_in() -> None:
        try:
            sent = 0
            while True:  # what arrived while building, then the live stream
                while held is not None and sent < len(held):
                    line, sent = held[sent], sent + 1
                    if line == b"":
                        proc.stdin.close()
                        return
                    proc.stdin.write(line)
                    proc.stdin.flush()
                line = sys.stdin.buffer.readline()
                if not line:
                    break
                proc.stdin.write(line)
                proc.stdin.flush()
            proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    threading.Thread(target=pump_in, daemon=True).start()
    for line in iter(proc.stdout.readline, b""):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
    return proc.wait()


def _version() -> str:
    try:
        with open(ROOT / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "0"


def _server_env() -> dict[str, str]:
    env_vars = dict(os.environ)
    env_vars["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env_vars


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        say(f"needs Python >= 3.11 (this is {sys.version.split()[0]})")
        return 1
    if argv[:1] == ["--build"] and len(argv) == 3:
        deps = dependencies()
        return build(Path(argv[1]), deps, stamp_of(deps), Path(argv[2]))
    py = dev_python()
    env_vars = dict(os.environ)
    if py is None:
        deps = dependencies()
        env = env_dir()
        stamp = stamp_of(deps)
        stdio = "--transport" not in argv or argv[argv.index("--transport") + 1:][:1] == ["stdio"]
        if not ready(env, stamp):
            if stdio and not sys.stdin.isatty():
                return bootstrap_stdio(env, deps, stamp, argv)
            ensure_env(env, deps, stamp)
        py = env_python(env)
        env_vars = _server_env()
    args = [str(py), "-P", "-m", "pytorch_patterns", "serve", *argv]  # -P: the cwd never shadows our packages
    os.execve(str(py), args, env_vars)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
