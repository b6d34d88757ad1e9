"""Real third-party clients: the MCP Inspector CLI and Claude Code's plugin loader.

They are npm packages; .ci/run installs them into .ci/node (set PP_NODE_BIN to another node_modules/.bin).
Skipped when not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = Path(os.environ.get("PP_NODE_BIN", ROOT / ".ci" / "node" / "node_modules" / ".bin"))
SERVE = [str(Path(sys.executable).with_name("pytorch-patterns")), "serve"]


def _tool(name: str) -> str | None:
    candidate = NODE_BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


INSPECTOR = _tool("mcp-inspector")
CLAUDE = _tool("claude")


@pytest.mark.skipif(INSPECTOR is None, reason="MCP Inspector not installed (npm i @modelcontextprotocol/inspector@2.12.0)")
def test_inspector_cli_lists_and_calls_tools(tmp_path: Path):
    listed = subprocess.run([INSPECTOR, "--cli", *SERVE, "--method", "tools/list"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = {t["name"] for t in json.loads(listed.stdout)["tools"]}
    assert {"review_code", "explain_rule", "run_reference_impl", "compare_implementations"} <= names
    called = subprocess.run(
        [INSPECTOR, "--cli", *SERVE, "--method", "tools/call", "--tool-name", "review_code",
         "--tool-arg", "source=import torch\nopt.zero_grad(set_to_none=False)\n"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert [f["rule"] for f in result["structuredContent"]["findings"]] == ["PT-GRAD003"]


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code not installed (npm i @anthropic-ai/claude-code@2.1.197)")
def test_claude_plugin_validates_and_loads_the_server(tmp_path: Path):
    for target in (".", ".claude-plugin/plugin.json"):
        res = subprocess.run([CLAUDE, "plugin", "validate", target], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert res.returncode == 0 and "Validation passed" in res.stdout, res.stdout + res.stderr
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    res = subprocess.run([CLAUDE, "--plugin-dir", str(ROOT), "mcp", "list"], capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("plugin:pytorch-patterns")), "")
    assert "Connected" in line, res.stdout + res.stderr
