"""Functions the server runs in its worker processes (see pool.py): light imports only, picklable results."""

from __future__ import annotations

from pathlib import Path


def review_text(data: str | bytes, name: str, select: list[str] | None, ignore: list[str] | None) -> list[dict] | dict:
    """Findings as dicts, or {"parse_error": ...} for a source that does not parse."""
    from pytorch_patterns.skill.review import SourceParseError, review_source

    try:
        return [f.model_dump(mode="json") for f in review_source(data, name, select=select, ignore=ignore)]
    except SourceParseError as exc:
        err = exc.error
        return {"parse_error": {"message": err.message, "line": err.line, "col": err.col}}


def review_tree(path: str, select: list[str] | None, ignore: list[str] | None) -> dict:
    """A directory reviewed as one project: findings and per-file errors as dicts."""
    from pytorch_patterns.skill.review import review_paths

    report = review_paths([Path(path)], select=select, ignore=ignore, jobs=1)
    return {"findings": [f.model_dump(mode="json") for f in report.findings],
            "errors": [e.model_dump(mode="json") for e in report.errors]}
