"""Jupyter notebooks: code cells reviewed as one program, findings reported with cell and line."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .models import Finding, SourceError
from .rule import Rule


def notebook_cells(data: str | bytes, filename: str) -> list[tuple[int, list[str]]]:
    """[(cell number (1-based, counting every cell), source lines)] for the code cells."""
    from .engine import SourceParseError

    try:
        nb = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceParseError(SourceError(file=filename, message=f"not a valid notebook (JSON): {exc}")) from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise SourceParseError(SourceError(file=filename, message="not a valid notebook: no 'cells' list"))
    out = []
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        out.append((i, text.splitlines()))
    return out


def _neutralise(line: str) -> str:
    """IPython magics and shell escapes are not Python: keep the line count, drop the content."""
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")) or stripped.endswith("?") and not stripped.startswith("#"):
        indent = line[: len(line) - len(stripped)]
        return f"{indent}pass  # magic"
    return line


def notebook_program(data: str | bytes, filename: str) -> tuple[str, list[tuple[int, int]]]:
    """The concatenated program and, for each of its lines, (cell, line within the cell)."""
    lines: list[str] = []
    where: list[tuple[int, int]] = []
    for cell_no, cell_lines in notebook_cells(data, filename):
        if cell_lines and cell_lines[0].lstrip().startswith("%%"):
            continue  # a cell magic (%%bash, %%timeit...) makes the whole cell non-Python
        for j, line in enumerate(cell_lines, start=1):
            lines.append(_neutralise(line))
            where.append((cell_no, j))
    return "\n".join(lines) + "\n", where


def review_notebook(
    data: str | bytes,
    filename: str,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    rules: Iterable[type[Rule]] | None = None,
) -> list[Finding]:
    from .engine import SourceParseError, review_source

    program, where = notebook_program(data, filename)
    try:
        findings = review_source(program, filename + ".py", select=select, ignore=ignore, rules=rules)
    except SourceParseError as exc:
        err = exc.error
        cell, line = where[err.line - 1] if err.line and 0 < err.line <= len(where) else (None, err.line)
        raise SourceParseError(SourceError(file=filename, line=line, col=err.col, message=err.message, cell=cell)) from None
    out = []
    for f in findings:
        cell, line = where[f.line - 1] if 0 < f.line <= len(where) else (None, f.line)
        end_cell, end_line = where[f.end_line - 1] if 0 < f.end_line <= len(where) else (cell, f.end_line)
        if end_cell != cell:
            end_line = line
        # Fixes edit the concatenated program; they are not mapped back into the JSON document.
        out.append(f.model_copy(update={"file": filename, "cell": cell, "line": line, "end_line": end_line, "fix": None}))
    return out
