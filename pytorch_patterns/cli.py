"""`pytorch-patterns` console script: one entry point, one module per subcommand.

Each `pytorch_patterns/cmd_<name>.py` defines `register(subparsers)`, which adds its parser and sets
`func` (args -> exit code). Modules import heavy things (torch, mcp) inside `func`, never at import
time, so `pytorch-patterns review` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

SUBCOMMAND_MODULES = ["review", "rules", "run", "generate", "serve", "eval", "doctor", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytorch-patterns",
        description="Review, generate, run and evaluate PyTorch code the way practitioners write it.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(f"pytorch_patterns.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"pytorch_patterns.cmd_{name}":
                continue  # subcommand not installed in this build
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
