"""`pytorch-patterns serve`: the MCP server over stdio (default) or streamable HTTP."""

from __future__ import annotations

import argparse
from pathlib import Path


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
        help="directory whose files review_code may read (repeatable; default: the current directory). "
        "Clients that declare workspace roots add theirs.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.app import serve

    for r in args.roots or []:
        if not r.is_dir():
            print(f"pytorch-patterns: error: --root {r} is not a directory")
            return 2
    serve(args.transport, host=args.host, port=args.port, roots=args.roots)
    return 0
