"""The plugin as a new user gets it: a Claude Code marketplace install in a clean $HOME connects with no manual step.

The repository is copied (tracked and untracked files, no .venv: what a GitHub marketplace clone holds) into a temp
folder, added as a local marketplace, and the plugin installed; `claude mcp list` must show the server connected. Its
launcher builds the server's light environment (no torch) in the plugin's data folder on first start, so this test
needs the package index (CI has it) and takes ~20-60 s. Then a real MCP client drives the same launcher and calls a
tool. Skipped when Claude Code's CLI is not installed (.ci/run installs it with npm).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = Path(os.environ.get("PP_NODE_BIN", ROOT / ".ci" / "node" / "node_modules" / ".bin"))
CLAUDE = str(NODE_BIN / "claude") if (NODE_BIN / "claude").exists() else shutil.which("claude")


def _copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_symlink() or not src.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)


def _clean_env(home: Path) -> dict[str, str]:
    keep = {"PATH", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE",
            "UV_INDEX_URL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"}
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    # no virtualenv on PATH: the launcher must find a system Python and build its own environment
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin)
    pip_conf = Path.home() / ".config" / "pip" / "pip.conf"
    if pip_conf.exists() and "PIP_CONFIG_FILE" not in env:
        env["PIP_CONFIG_FILE"] = str(pip_conf)  # this machine's index settings, as the user's own pip would see them
    return {**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config")}


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code not installed (npm i @anthropic-ai/claude-code@2.1.197)")
def test_marketplace_install_connects_and_a_tool_works(tmp_path: Path):
    home, plugin, project = tmp_path / "home", tmp_path / "pytorch-patterns", tmp_path / "project"
    for d in (home, plugin, project):
        d.mkdir()
    _copy_checkout(plugin)
    assert not (plugin / ".venv").exists()
    env = _clean_env(home)

    def claude(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([CLAUDE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)

    added = claude("plugin", "marketplace", "add", str(plugin))
    assert added.returncode == 0, added.stdout + added.stderr
    installed = claude("plugin", "install", "pytorch-patterns@pytorch-patterns")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    cache = home / ".claude" / "plugins" / "cache"
    copied = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0
    assert copied < 50_000_000, f"the plugin cache holds {copied / 1e6:.0f} MB: an environment was copied"

    listed = claude("mcp", "list", timeout=300)
    line = next((ln for ln in listed.stdout.splitlines() if "pytorch-patterns" in ln), "")
    assert "Connected" in line, listed.stdout + listed.stderr
    # `mcp list` answered from the launcher's bootstrap; the build it started goes on after the client left
    data = home / ".claude" / "plugins" / "data"
    deadline = time.monotonic() + 400
    while not any(data.rglob(".pytorch-patterns-stamp")) and time.monotonic() < deadline:
        time.sleep(1)
    assert any(data.rglob(".pytorch-patterns-stamp")), "the launcher did not build its environment in the plugin's data folder"

    # a real MCP client on the same launcher and environment: a tool call works
    launcher = next((p for p in [*cache.rglob("bin/pytorch-patterns-mcp"), plugin / "bin" / "pytorch-patterns-mcp"]), None)
    stamp = next(data.rglob(".pytorch-patterns-stamp"))
    params = StdioServerParameters(command=str(launcher), args=[], cwd=str(project),
                                   env={**env, "PYTORCH_PATTERNS_ENV": str(stamp.parent)})

    async def call() -> str:
        async with Client(params) as client:
            res = await client.call_tool("review_code", {"source": "import torch\nx = torch.zeros(3).cuda()\n"})
            assert not res.is_error
            return res.content[0].text

    assert "PT-DEV001" in anyio.run(call)


def test_launcher_reports_a_failed_build_clearly(tmp_path: Path):
    """No usable package index: one clear message on stderr (the client's log) and exit 1, not a hang or traceback."""
    env = _clean_env(tmp_path)
    env.update({"PYTORCH_PATTERNS_ENV": str(tmp_path / "env"), "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0",
                "PIP_TIMEOUT": "2"})
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "uv").exists())
    plugin = tmp_path / "plugin"
    _copy_checkout(plugin)  # no .venv, as in a plugin cache
    res = subprocess.run([str(plugin / "bin" / "pytorch-patterns-mcp")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300, stdin=subprocess.DEVNULL)
    assert res.returncode == 1, res.stderr
    assert "could not install the server's dependencies" in res.stderr and "Traceback" not in res.stderr
