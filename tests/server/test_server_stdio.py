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
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

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
        assert TOOLS <= {t.name for t in tools}
        listing = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], separators=(",", ":"))
        assert len(listing) / 4 < 4000, f"tools/list is ~{len(listing) // 4} tokens"
        assert '"format":"path"' not in listing  # Claude Code warns about unknown formats
        for t in tools:
            assert t.description and t.input_schema["type"] == "object"
            assert t.annotations is not None and t.annotations.open_world_hint is False, t.name
            for field, prop in t.input_schema.get("properties", {}).items():
                if field != "ctx":
                    assert prop.get("description"), (t.name, field)
        by_name = {t.name: t for t in tools}
        assert by_name["review_code"].annotations.read_only_hint is True
        assert by_name["compare_implementations"].annotations.read_only_hint is False
        assert "RUNS" in by_name["compare_implementations"].description
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert resources == {"pytorch-patterns://skill", "pytorch-patterns://rules"}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert {"pytorch-patterns://docs/{topic}", "pytorch-patterns://rules/{code}", "pytorch-patterns://reference/{name}",
                "pytorch-patterns://specs/{kind}"} <= templates
        doc = await client.read_resource("pytorch-patterns://rules/PT-GRAD006")
        assert "requires_grad" in doc.contents[0].text
        family = await client.read_resource("pytorch-patterns://rules/PT-GRAD")
        assert "PT-GRAD001" in family.contents[0].text and "PT-GRAD006" in family.contents[0].text
        assert "PT-DEV001" in (await client.read_resource("pytorch-patterns://rules")).contents[0].text
        assert "## " in (await client.read_resource("pytorch-patterns://docs/training-loop")).contents[0].text
        assert "lr" in (await client.read_resource("pytorch-patterns://specs/train-loop")).contents[0].text
        for uri in ("pytorch-patterns://docs/nope", "pytorch-patterns://rules/PT-NOPE", "pytorch-patterns://reference/x"):
            with pytest.raises(Exception):
                await client.read_resource(uri)
        done = await client.complete(ref={"type": "ref/resource", "uri": "pytorch-patterns://rules/{code}"},
                                     argument={"name": "code", "value": "PT-GRAD00"})
        assert "PT-GRAD002" in done.completion.values
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"review-pytorch-file", "write-training-script", "make-loop-faster"}
        assert all(a.description for p in prompts.values() for a in p.arguments or [])
        got = await client.get_prompt("review-pytorch-file", {"path": "train.py"})
        assert "review_code" in got.messages[0].content.text
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("review-pytorch-file", {})
        assert missing.value.error.code == INVALID_PARAMS and "path" in missing.value.error.message


async def test_review_code_good_and_bad_input(params, tmp_path):
    async with Client(params) as client:
        res = await client.call_tool("review_code", {"source": BAD_SOURCE, "filename": "t.py"})
        assert not res.is_error
        rules = [f["rule"] for f in res.structured_content["findings"]]
        assert rules == ["PT-GRAD003", "PT-GRAD006"]
        text = _text(res)  # compact lines for the model, not pretty-printed JSON
        assert "t.py:2:" in text and "PT-GRAD003" in text and "\n  " not in text
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
            ({"source": "x" * 500_000}, "limit"),
        ]:
            bad = await client.call_tool("review_code", args)
            assert bad.is_error, args
            assert expect in _text(bad), (args, _text(bad))


async def test_explain_and_generate(params):
    async with Client(params) as client:
        ok = await client.call_tool("explain_rule", {"code": "PT-GRAD006"})
        assert ok.structured_content["name"] == "require-grad-typo" and ok.structured_content["bad"]
        assert _text(ok).startswith("# PT-GRAD006")
        bad = await client.call_tool("explain_rule", {"code": "nonsense"})
        assert bad.is_error and "pytorch-patterns://rules" in _text(bad)
        for tool in ("generate_training_loop", "generate_dataset", "generate_checkpointing"):
            res = await client.call_tool(tool, {"spec": {}})
            assert not res.is_error, (tool, _text(res))
            code = res.content[1].text  # the code itself, as plain text (not a JSON-escaped string)
            compile(code, tool, "exec")
            assert res.structured_content["rationale"] and res.structured_content["lines"] == code.count("\n") + 1
            assert "code" not in res.structured_content
        bad = await client.call_tool("generate_training_loop", {"spec": {"amp": "fp17"}})
        assert bad.is_error and "amp" in _text(bad)
        unknown = await client.call_tool("generate_training_loop", {"spec": {"learning_rate_typo": 1}})
        assert unknown.is_error and "pytorch-patterns://specs/train-loop" in _text(unknown)


async def test_run_and_compare(params):
    async with Client(params) as client:
        impls = await client.call_tool("list_reference_impls", {})
        names = [i["name"] for i in impls.structured_content["impls"]]
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
        assert "Python:" in _text(run) and report["python"]  # says which interpreter ran torch
        bad = await client.call_tool("run_reference_impl", {"name": "no-such-impl"})
        assert bad.is_error and name in _text(bad)
        cmp_ = await client.call_tool("compare_implementations", {"reference_source": REFERENCE, "candidate_source": CANDIDATE, "device": "cpu"})
        assert not cmp_.is_error, _text(cmp_)
        assert json.dumps(cmp_.structured_content)
        bad = await client.call_tool("compare_implementations", {"reference_source": REFERENCE})
        assert bad.is_error and "candidate" in _text(bad)
        broken = await client.call_tool("compare_implementations", {"reference_source": REFERENCE, "candidate_source": "def f(:\n"})
        assert broken.is_error and "does not parse" in _text(broken)
        failed = await client.call_tool("run_reference_impl", {"name": name, "steps": 50_000, "device": "cpu", "timeout_s": 1})
        assert failed.is_error and "FAILED" in _text(failed)  # a failed run is an error result, with the reason
        no_gpu = await client.call_tool("run_reference_impl", {"name": name, "device": "cuda"})
        if not any(Path("/dev").glob("nvidia[0-9]*")):
            assert no_gpu.is_error and "no NVIDIA GPU" in _text(no_gpu)


def _processes_with_marker(marker: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                if b"multiprocessing" in (d / "cmdline").read_bytes():
                    continue  # the server's own review workers (forkserver), not a run's processes
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
            job: set[int] = set()
            deadline = time.monotonic() + 120  # progress starts before the child does (interpreter, worker start)
            while not job and time.monotonic() < deadline:
                job = set(_processes_with_marker(marker)) - server_pids
                await anyio.sleep(0.2)
            assert job, "the run's child process is not running"
            second = await client.call_tool("run_reference_impl", {"name": "mlp_tabular", "steps": 5, "device": "cpu"})
            assert second.is_error and "busy" in _text(second)  # refused at once, not queued behind the first
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


BIG = "import torch\n" + "".join(f"def f{i}(model, opt, x):\n    opt.zero_grad(set_to_none=False)\n    model(x).sum().backward()\n    opt.step()\n" for i in range(3000))


async def test_reviews_run_off_the_event_loop(params):
    """A long review must not hold up a trivial call from another client (reviews run in worker processes)."""
    order: list[str] = []
    async with Client(params) as slow, Client(params) as fast:
        async def big():
            assert len(BIG) < 400_000
            res = await slow.call_tool("review_code", {"source": BIG})
            assert not res.is_error, _text(res)
            order.append("review")

        async def small():
            await anyio.sleep(0.3)  # the review is under way
            for _ in range(3):
                res = await fast.call_tool("explain_rule", {"code": "PT-GRAD003"})
                assert not res.is_error
            order.append("explain")

        async with anyio.create_task_group() as tg:
            tg.start_soon(big)
            tg.start_soon(small)
    assert order == ["explain", "review"], order


async def test_read_only_toolset_leaves_out_tools_that_run_code(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    ro = StdioServerParameters(command=sys.executable, args=["-m", "pytorch_patterns", "serve", "--read-only"], env=env, cwd=str(tmp_path))
    async with Client(ro) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "review_code" in names and "generate_training_loop" in names
    assert not names & {"run_reference_impl", "compare_implementations", "diagnose_training_run"}
