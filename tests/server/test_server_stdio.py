"""The MCP server driven by the SDK's own client over stdio, as a separate process."""

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

BAD_SOURCE = "import torch\nopt.zero_grad(set_to_none=False)\nfor p in m.parameters():\n    p.require_grad = False\n"
TOOLS = {
    "review_code", "explain_rule", "generate_training_loop", "generate_dataset", "generate_checkpointing",
    "list_reference_impls", "run_reference_impl", "compare_implementations", "diagnose_training_run",
}

REFERENCE = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return torch.relu(x) * 2.0


def get_inputs():
    return [torch.randn(8, 16)]


def get_init_inputs():
    return [16]
'''
CANDIDATE = REFERENCE.replace("class Model(", "class ModelNew(").replace("torch.relu(x) * 2.0", "x.clamp_min(0) * 2.0")


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def marker() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def params(tmp_path: Path, marker: str) -> StdioServerParameters:
    (tmp_path / "train.py").write_text(BAD_SOURCE)
    env = {"PP_TEST_MARKER": marker, "PYTHONPATH": os.pathsep.join(sys.path)}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "pytorch_patterns", "serve", "--root", str(tmp_path)], env=env, cwd=str(tmp_path)
    )


def _text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def test_lists_tools_resources_prompts(params):
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == TOOLS
        for t in tools:
            assert t.description and t.input_schema["type"] == "object"
            assert t.output_schema is not None, t.name
            assert t.annotations is not None and t.annotations.open_world_hint is False, t.name
        by_name = {t.name: t for t in tools}
        assert by_name["review_code"].annotations.read_only_hint is True
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "pytorch-patterns://rules/PT-GRAD006" in resources
        assert any(u.startswith("pytorch-patterns://docs/") for u in resources)
        assert any(u.startswith("pytorch-patterns://reference/") for u in resources)
        doc = await client.read_resource("pytorch-patterns://rules/PT-GRAD006")
        assert "requires_grad" in doc.contents[0].text
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"review-pytorch-file", "write-training-script", "make-loop-faster"}
        got = await client.get_prompt("review-pytorch-file", {"path": "train.py"})
        assert "review_code" in got.messages[0].content.text


async def test_review_code_good_and_bad_input(params, tmp_path):
    async with Client(params) as client:
        res = await client.call_tool("review_code", {"source": BAD_SOURCE, "filename": "t.py"})
        assert not res.is_error
        rules = [f["rule"] for f in res.structured_content["findings"]]
        assert rules == ["PT-GRAD003", "PT-GRAD006"]
        assert res.structured_content["findings"][0]["fix"]["edits"]
        by_path = await client.call_tool("review_code", {"path": "train.py"})
        assert not by_path.is_error and by_path.structured_content["total"] == 2
        page = await client.call_tool("review_code", {"source": BAD_SOURCE, "limit": 1})
        assert page.structured_content["next_offset"] == 1 and len(page.structured_content["findings"]) == 1

        for args, expect in [
            ({}, "exactly one"),
            ({"source": "x = 1", "path": "train.py"}, "exactly one"),
            ({"path": "/etc/passwd"}, "outside"),
            ({"path": "../" * 30 + "etc/passwd"}, "outside"),
            ({"path": "nope.py"}, "does not exist"),
            ({"source": "def f(:\n"}, "line 1"),
            ({"source": "x = 1", "select": ["PT-NOPE999"]}, "unknown rule"),
            ({"source": 42}, ""),
            ({"source": "x", "limit": -1}, ""),
        ]:
            bad = await client.call_tool("review_code", args)
            assert bad.is_error, args
            assert expect in _text(bad), (args, _text(bad))


async def test_explain_and_generate(params):
    async with Client(params) as client:
        ok = await client.call_tool("explain_rule", {"code": "PT-GRAD006"})
        assert ok.structured_content["name"] == "require-grad-typo" and ok.structured_content["bad"]
        bad = await client.call_tool("explain_rule", {"code": "nonsense"})
        assert bad.is_error and "PT-GRAD006" in _text(bad)
        for tool in ("generate_training_loop", "generate_dataset", "generate_checkpointing"):
            res = await client.call_tool(tool, {"spec": {}})
            assert not res.is_error, (tool, _text(res))
            code = res.structured_content["code"]
            compile(code, tool, "exec")
            assert res.structured_content["rationale"]
        bad = await client.call_tool("generate_training_loop", {"spec": {"amp": "fp17"}})
        assert bad.is_error and "amp" in _text(bad)


async def test_run_and_compare(params):
    async with Client(params) as client:
        impls = await client.call_tool("list_reference_impls", {})
        names = [i["name"] for i in impls.structured_content["result"]]
        assert len(names) >= 10
        progress: list[float] = []

        async def on_progress(p, total, message):
            progress.append(p)

        name = "mlp_tabular"
        run = await client.call_tool("run_reference_impl", {"name": name, "steps": 5, "device": "cpu"}, progress_callback=on_progress)
        assert not run.is_error, _text(run)
        report = run.structured_content
        assert len(report["losses"] if "losses" in report else report["loss_curve"]) >= 1
        assert progress, "no progress notifications"
        bad = await client.call_tool("run_reference_impl", {"name": "no-such-impl"})
        assert bad.is_error and name in _text(bad)
        cmp_ = await client.call_tool("compare_implementations", {"reference_source": REFERENCE, "candidate_source": CANDIDATE, "device": "cpu"})
        assert not cmp_.is_error, _text(cmp_)
        assert json.dumps(cmp_.structured_content)
        bad = await client.call_tool("compare_implementations", {"reference_source": REFERENCE})
        assert bad.is_error and "candidate" in _text(bad)


def _processes_with_marker(marker: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


async def test_cancel_kills_the_child(params, marker):
    async with Client(params) as client:
        server_pids = set(_processes_with_marker(marker))
        started = anyio.Event()

        async def on_progress(p, total, message):
            started.set()

        async def long_run():
            await client.call_tool("run_reference_impl", {"name": "mlp_tabular", "steps": 100_000, "device": "cpu"}, progress_callback=on_progress)

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_run)
            with anyio.fail_after(120):
                await started.wait()
            job = set(_processes_with_marker(marker)) - server_pids
            assert job, "the run's child process is not running"
            tg.cancel_scope.cancel()
        deadline = time.monotonic() + 20
        while job & set(_processes_with_marker(marker)) and time.monotonic() < deadline:
            await anyio.sleep(0.2)
        # (a new idle warm worker may have been started for the next run: only the job's processes must be gone)
        assert not job & set(_processes_with_marker(marker)), "the cancelled run's processes are still alive"
        ok = await client.call_tool("explain_rule", {"code": "PT-GRAD003"})  # still serving
        assert not ok.is_error
    deadline = time.monotonic() + 20
    while _processes_with_marker(marker) and time.monotonic() < deadline:
        await anyio.sleep(0.2)
    assert not _processes_with_marker(marker), "processes left after the server exited"


async def test_200_hostile_requests_then_a_good_one(params):
    junk = [
        ("review_code", {"source": None}),
        ("review_code", {"source": ["a", "b"]}),
        ("review_code", {"source": "x" * 3_000_000}),
        ("review_code", {"path": "/proc/self/environ"}),
        ("review_code", {"path": "\x00\x01binary"}),
        ("review_code", {"source": "\x00\x89PNG\r\n\x1a\n"}),
        ("review_code", {"source": "def f(:"}),
        ("explain_rule", {"code": "A" * 10_000}),
        ("explain_rule", {}),
        ("no_such_tool", {"x": 1}),
        ("generate_training_loop", {"spec": "not a dict"}),
        ("generate_training_loop", {"spec": {"task": "time-travel"}}),
        ("run_reference_impl", {"name": "../../etc/passwd"}),
        ("run_reference_impl", {"name": "mlp_tabular", "steps": -5}),
        ("compare_implementations", {"reference_path": "/etc/passwd", "candidate_source": "x"}),
        ("review_code", {"source": "x", "select": "PT-GRAD"}),
        ("review_code", {"source": "x", "offset": "many"}),
        ("review_code", {"source": "x\ttabs\r\n" * 1000 + "\x1b[2J"}),
        ("explain_rule", {"code": 12}),
        ("list_reference_impls", {"unexpected": True}),
    ]
    async with Client(params) as client:
        for i in range(200):
            name, args = junk[i % len(junk)]
            try:
                res = await client.call_tool(name, args)
            except Exception:  # noqa: BLE001 -- a protocol-level error answer is also an error answer
                continue
            if name == "list_reference_impls":
                continue  # extra arguments are ignored by design
            assert res.is_error, (name, str(args)[:80])
        ok = await client.call_tool("review_code", {"source": BAD_SOURCE})
        assert not ok.is_error and ok.structured_content["total"] == 2
