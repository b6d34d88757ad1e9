"""MCP server latency, as ratios measured in the same run.

* start-up: time from spawning `pytorch-patterns serve` to the `tools/list` answer, against a minimal
  MCPServer with one tool started the same way (goal: within 1.5x);
* review_code on a 500-line file, warm (median of repeated calls; goal: under 50 ms).
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
    med_ours, med_base = statistics.median(t_ours), statistics.median(t_base)
    table = Table(title=f"MCP server latency (median of {repeat} starts)")
    for c in ("measure", "seconds", "ratio"):
        table.add_column(c, justify="right")
    table.add_row("minimal MCPServer: spawn -> tools/list", f"{med_base:.3f}", "1.00x")
    table.add_row("pytorch-patterns serve: spawn -> tools/list", f"{med_ours:.3f}", f"{med_ours / med_base:.2f}x")
    table.add_row(f"review_code, {src.count(chr(10))}-line file, warm (median)", f"{statistics.median(lat) * 1000:.1f} ms", "")
    console.print(table)
    console.print(f"start-up ratio {med_ours / med_base:.2f}x (goal <= 1.5x); review {statistics.median(lat) * 1000:.1f} ms (goal < 50 ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    anyio.run(main_async, ap.parse_args().repeat)


if __name__ == "__main__":
    main()
