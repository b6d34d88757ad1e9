"""Which Python runs the torch children (runs, compare, the doctor).

By default the current interpreter. A caller that found a better one (the MCP server picks the user's project
environment when it has torch, or one given with --python) sets PYTORCH_PATTERNS_PYTHON; the children then get this
repository on PYTHONPATH so they can import the runner's worker code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "PYTORCH_PATTERNS_PYTHON"
REPO_ROOT = Path(__file__).resolve().parents[1]


def torch_python() -> str:
    return os.environ.get(ENV_VAR) or sys.executable


def uses_foreign_python() -> bool:
    return os.path.realpath(torch_python()) != os.path.realpath(sys.executable)
