"""pytorch-patterns knowledge core: pattern docs, the rule catalogue, the static reviewer, the generators.

Pure logic: nothing in this package imports torch, the MCP server or the runner.
"""

from pathlib import Path

DOCS_DIR = Path(__file__).with_name("docs")

__all__ = ["DOCS_DIR"]
