"""`diagnose_training_run` over stdio with the MCP SDK's own client: a finding with evidence, progress from the
start, paths outside the roots refused, cancellation kills the script's processes."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.anyio

SCRIPT = """\
import torch
import torch.nn as nn
torch.manual_seed(0)
torch.set_num_threads(1)
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(64, 16), torch.randn(64, 1)
for step in range({steps}):
    loss = ((model(x[step % 8 * 8:step % 8 * 8 + 8]) - y[step % 8 * 8:step % 8 * 8 + 8]) ** 2).mean()
    loss.backward()
    opt.step()
"""


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def marker() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def params(tmp_path: Path, marker: str) -> StdioServerParameters:
    (tmp_path / "train.py").write_text(SCRIPT.format(steps=30))
    (tmp_path / "forever.py").write_text(SCRIPT.format(steps=10**9))
    env = {"PP_TEST_MARKER": marker, "PYTHONPATH": os.pathsep.join(sys.path)}
    return StdioServerParameters(command=sys.executable, args=["-m", "pytorch_patterns", "serve", "--root",
                                                               str(tmp_path)], env=env, cwd=str(tmp_path))


def _text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def _pids(marker: str) -> set[int]:
    """Processes started by the test's server (its environment holds the marker), except the server's own review
    workers (a multiprocessing forkserver the server may start at any time: they are not a run's processes)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "environ").read_bytes() and b"multiprocessing" not in (
                        d / "cmdline").read_bytes():
                    out.add(int(d.name))
            except OSError:
                continue
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


async def test_diagnose_finds_the_bug_with_progress(params):
    async with Client(params) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "diagnose_training_run" in tools  # compact text result + structured content (no big output schema)
        progress: list[tuple[float, str]] = []

        async def on_progress(p, total, message):
            progress.append((p, message))

        res = await client.call_tool("diagnose_training_run", {"path": "train.py", "steps": 5},
                                     progress_callback=on_progress)
        assert not res.is_error, _text(res)
        report = res.structured_content
        if "result" in report and "findings" not in report:
            report = report["result"]
        assert report["steps"] == 5
        codes = [f["rule"] for f in report["findings"]]
        assert codes == ["PT-RUN004"], json.dumps(report["findings"], indent=1)
        assert report["findings"][0]["line"] == 11 and report["findings"][0]["evidence"]
        assert progress and progress[0][0] == 0 and "starting" in progress[0][1]
        outside = await client.call_tool("diagnose_training_run", {"path": "/etc/passwd"})
        assert outside.is_error and "outside" in _text(outside)
        missing = await client.call_tool("diagnose_training_run", {"path": "nope.py"})
        assert missing.is_error and "does not exist" in _text(missing)


async def test_cancel_kills_the_script(params, marker):
    async with Client(params) as client:
        server = _pids(marker)
        running = anyio.Event()

        async def on_progress(p, total, message):
            if p >= 1:
                running.set()  # the script has made an optimizer step: its process is up

        async def long_run():
            await client.call_tool("diagnose_training_run", {"path": "forever.py", "steps": 10_000},
                                   progress_callback=on_progress)

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_run)
            with anyio.fail_after(180):
                await running.wait()
            job = _pids(marker) - server
            assert any(b"forever.py" in _cmdline(p) for p in job), "the script's process is not running"
            tg.cancel_scope.cancel()
        deadline = time.monotonic() + 20
        while job & _pids(marker) and time.monotonic() < deadline:
            await anyio.sleep(0.2)
        left = job & _pids(marker)
        assert not left, f"the cancelled script's processes are still alive: {[_cmdline(p)[:200] for p in left]}"
