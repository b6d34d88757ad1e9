"""MCP server latency, as ratios measured in the same run.

* start-up: time from spawning `pytorch-patterns serve` to the `tools/list` answer, against a minimal
  MCPServer with one tool started the same way (goal: within 1.5x);
* review_code on a 500-line file, warm (median of repeated calls; goal: under 50 ms);
* under load: the median latency of a trivial call (explain_rule) while 10 other clients review the 500-line file
  in a loop, against the same call's idle median in the same run (goal: at most 2x; no call may fail).
Run: .venv/bin/python bench/server_latency.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from rich.console import Console
from rich.table import Table

MINIMAL_SERVER = '''
from mcp.server import MCPServer

mcp = MCPServer("minimal")


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text."""
    return text


mcp.run("stdio")
'''

BLOCK = '''
def train_epoch_{i}(model, loader, optimizer, device):
    model.train()
    total = torch.zeros((), device=device)
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return total
'''


def five_hundred_lines() -> str:
    src = "import torch\nimport torch.nn.functional as F\n"
    i = 0
    while src.count("\n") < 500:
        src += BLOCK.format(i=i)
        i += 1
    return src


async def time_startup(params: StdioServerParameters) -> float:
    t0 = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        return time.perf_counter() - t0


async def main_async(repeat: int) -> None:
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_server.py"
        minimal.write_text(MINIMAL_SERVER)
        ours = StdioServerParameters(command=sys.executable, args=["-m", "pytorch_patterns", "serve"], cwd=tmp)
        base = StdioServerParameters(command=sys.executable, args=[str(minimal)], cwd=tmp)
        t_ours, t_base = [], []
        for _ in range(repeat):  # interleaved, so load changes hit both alike
            t_base.append(await time_startup(base))
            t_ours.append(await time_startup(ours))
        src = five_hundred_lines()
        async with Client(ours) as client:
            await client.call_tool("review_code", {"source": src})  # warm-up
            lat = []
            for _ in range(max(10, repeat * 5)):
                t0 = time.perf_counter()
                res = await client.call_tool("review_code", {"source": src})
                lat.append(time.perf_counter() - t0)
            assert not res.is_error
        idle, loaded, failures = await under_load(ours, src, n_clients=10, calls=max(20, repeat * 4))
    med_ours, med_base = statistics.median(t_ours), statistics.median(t_base)
    table = Table(title=f"MCP server latency (median of {repeat} starts)")
    for c in ("measure", "seconds", "ratio"):
        table.add_column(c, justify="right")
    table.add_row("minimal MCPServer: spawn -> tools/list", f"{med_base:.3f}", "1.00x")
    table.add_row("pytorch-patterns serve: spawn -> tools/list", f"{med_ours:.3f}", f"{med_ours / med_base:.2f}x")
    table.add_row(f"review_code, {src.count(chr(10))}-line file, warm (median)", f"{statistics.median(lat) * 1000:.1f} ms", "")
    table.add_row("explain_rule, idle (median)", f"{idle * 1000:.1f} ms", "1.00x")
    table.add_row("explain_rule, 10 clients reviewing (median)", f"{loaded * 1000:.1f} ms", f"{loaded / idle:.2f}x")
    console.print(table)
    console.print(f"under load: {loaded / idle:.2f}x idle (goal <= 2x), {failures} failed call(s) (goal 0)")
    console.print(f"start-up ratio {med_ours / med_base:.2f}x (goal <= 1.5x); review {statistics.median(lat) * 1000:.1f} ms (goal < 50 ms)")


async def under_load(params: StdioServerParameters, src: str, n_clients: int, calls: int) -> tuple[float, float, int]:
    """(idle median, loaded median, failed calls) of explain_rule, with n_clients reviewing `src` meanwhile."""
    failures = 0
    async with Client(params) as probe:
        await probe.call_tool("explain_rule", {"code": "PT-GRAD002"})

        async def trivial_median(n: int) -> float:
            nonlocal failures
            lat = []
            for _ in range(n):
                t0 = time.perf_counter()
                res = await probe.call_tool("explain_rule", {"code": "PT-GRAD002"})
                lat.append(time.perf_counter() - t0)
                failures += bool(res.is_error)
                await anyio.sleep(0.05)
            return statistics.median(lat)

        idle = await trivial_median(calls)
        stop = anyio.Event()

        async def reviewer() -> None:
            nonlocal failures
            async with Client(params) as client:
                while not stop.is_set():
                    res = await client.call_tool("review_code", {"source": src})
                    failures += bool(res.is_error)

        async with anyio.create_task_group() as tg:
            for _ in range(n_clients):
                tg.start_soon(reviewer)
            await anyio.sleep(3)  # every reviewer connected and busy
            loaded = await trivial_median(calls)
            stop.set()
    return idle, loaded, failures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    anyio.run(main_async, ap.parse_args().repeat)


if __name__ == "__main__":
    main()
