"""`pytorch-patterns serve`: the MCP server over stdio (default) or streamable HTTP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TOOLSETS = ("review", "generate", "run")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    p.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="bind address for streamable-http (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--root",
        action="append",
        type=Path,
        dest="roots",
        help="directory whose files the tools may read (repeatable; default: the current directory). "
        "Clients that declare workspace roots add theirs.",
    )
    p.add_argument("--toolsets", default=",".join(TOOLSETS),
                   help=f"comma list of tool groups to offer: {', '.join(TOOLSETS)} (default: all)")
    p.add_argument("--read-only", action="store_true",
                   help="leave out the tools that run code (run_reference_impl, compare_implementations, diagnose_training_run)")
    p.add_argument("--python", help="interpreter with torch for the tools that train (default: the project's .venv "
                   "when it has torch, else this one; torch is installed into this environment on first use)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for r in args.roots or []:
        if not r.is_dir():
            print(f"pytorch-patterns: error: --root {r} is not a directory", file=sys.stderr)
            return 2
    toolsets = [t.strip() for t in args.toolsets.split(",") if t.strip()]
    unknown = [t for t in toolsets if t not in TOOLSETS]
    if unknown or not toolsets:
        print(f"pytorch-patterns: error: --toolsets takes a comma list of {', '.join(TOOLSETS)} (got {args.toolsets!r})", file=sys.stderr)
        return 2
    if args.read_only:
        toolsets = [t for t in toolsets if t != "run"]
    if args.python and not Path(args.python).exists():
        print(f"pytorch-patterns: error: --python {args.python} does not exist", file=sys.stderr)
        return 2
    if args.transport == "streamable-http" and not 0 < args.port < 65536:
        print(f"pytorch-patterns: error: --port {args.port} is not a port number", file=sys.stderr)
        return 2
    from pytorch_patterns.server.app import serve

    def ready() -> None:
        if args.transport == "streamable-http":
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(f"pytorch-patterns MCP server: http://{host}:{args.port}/mcp (streamable HTTP; Ctrl-C to stop)",
                  file=sys.stderr, flush=True)

    try:
        serve(args.transport, host=args.host, port=args.port, roots=args.roots, toolsets=toolsets,
              python=args.python, on_ready=ready)
    except OSError as exc:  # e.g. the port is taken
        print(f"pytorch-patterns: error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
