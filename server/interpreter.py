"""Find (or, once, install) a Python with torch for the tools that train; never import torch in the server.

Order: `serve --python PATH` (or $PYTORCH_PATTERNS_PYTHON); a project environment in a workspace root
(`.venv/`, `venv/`, `env/`) that has torch and pydantic; the server's own interpreter when it has torch; otherwise torch
is installed into the server's own environment on first use (CPU wheel unless an NVIDIA device is present), with
progress. Each run's result says which interpreter it used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from pytorch_patterns.reference_impls.interpreter import ENV_VAR, REPO_ROOT

CHECK = "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ('torch', 'pydantic')) else 3)"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_REQUIREMENT = "torch>=2.4"
_lock = threading.Lock()
_chosen: tuple[str, str] | None = None


class NoTorch(Exception):
    pass


def has_torch(python: str | Path) -> bool:
    try:
        return subprocess.run([str(python), "-c", CHECK], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def candidates(roots: list[Path]) -> list[Path]:
    out = []
    for root in roots:
        for name in (".venv", "venv", "env"):
            py = root / name / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
            if py.exists():
                out.append(py)
    return out


def install_command() -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if sys.platform.startswith("linux") and not Path("/dev/nvidiactl").exists():
        cmd += ["--index-url", CPU_INDEX, "--extra-index-url", "https://pypi.org/simple"]
    return [*cmd, TORCH_REQUIREMENT]


def resolve(roots: list[Path], explicit: str | None = None, progress: Callable[[str], None] | None = None,
            install: bool = True, own_only: bool = False) -> tuple[str, str]:
    """(python, why): the interpreter the torch children use. Sets $PYTORCH_PATTERNS_PYTHON (and PYTHONPATH when it
    is not the server's own) so the runner and the doctor start their children with it. `own_only`: the caller's
    children must run this server's own interpreter (compare: its sandbox binds only that one), so torch is
    installed here when missing."""
    global _chosen
    if own_only:
        with _lock:
            if find_spec("torch") is not None:
                return sys.executable, "the server's own environment"
            return _find([], None, progress, install)
    with _lock:
        if _chosen is None:
            _chosen = _find(roots, explicit or os.environ.get(ENV_VAR), progress, install)
            python = _chosen[0]
            os.environ[ENV_VAR] = python
            if os.path.realpath(python) != os.path.realpath(sys.executable):
                parts = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
                os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
        return _chosen


def _find(roots, explicit, progress, install) -> tuple[str, str]:
    if explicit:
        if not has_torch(explicit):
            raise NoTorch(f"{explicit} (from --python / ${ENV_VAR}) cannot import torch and pydantic")
        return str(explicit), "given with --python"
    for py in candidates(roots):
        if has_torch(py):
            return str(py), f"the project environment {py.parent.parent}"
    if find_spec("torch") is not None:
        return sys.executable, "the server's own environment"
    if not install:
        raise NoTorch("no Python with torch found: pass --python PATH, or make a .venv with torch in the project")
    cmd = install_command()
    if progress:
        progress(f"installing torch into the server's environment ({sys.prefix}); a one-time download of "
                 "~200 MB (CPU) to a few GB (CUDA)")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-4:], line.rstrip()]
        if progress and line.startswith(("Collecting", "Downloading", "Installing", "Successfully")):
            progress(line.strip()[:200])
    if proc.wait() != 0 or find_spec("torch") is None:
        raise NoTorch("installing torch failed: " + " | ".join(tail) + f" (command: {' '.join(cmd)})")
    return sys.executable, "the server's own environment (torch installed on first use)"


def reset() -> None:
    """Forget the choice (tests)."""
    global _chosen
    with _lock:
        _chosen = None
