"""Applying fixes: non-overlapping edits, repeated until nothing fixable is left, never breaking parse."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .models import Edit, Finding

MAX_PASSES = 10


def _offsets(source: str) -> list[int]:
    """Character offset of the start of each line (index 0 is line 1)."""
    starts = [0]
    for i, ch in enumerate(source):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def apply_fixes(source: str, findings: Iterable[Finding], *, unsafe: bool = False) -> tuple[str, int]:
    """Apply the fixes of `findings` (safe ones; unsafe too if asked). Overlapping edits are skipped.

    Returns the new source and the number of fixes applied.
    """
    starts = _offsets(source)

    def pos(line: int, col: int) -> int:
        line = max(1, min(line, len(starts)))
        return min(starts[line - 1] + col - 1, len(source))

    chosen: list[tuple[int, int, list[tuple[int, int, Edit]]]] = []
    for f in findings:
        if f.fix is None or (f.fix.applicability == "unsafe" and not unsafe):
            continue
        spans = [(pos(e.line, e.col), pos(e.end_line, e.end_col), e) for e in f.fix.edits]
        lo = min(s for s, _, _ in spans)
        hi = max(e for _, e, _ in spans)
        chosen.append((lo, hi, spans))
    chosen.sort(key=lambda c: (c[0], c[1]))
    accepted: list[tuple[int, int, Edit]] = []
    last_end = -1
    applied = 0
    for lo, hi, spans in chosen:
        if lo < last_end or (lo == last_end and lo == hi and accepted):
            continue  # overlaps an earlier fix: the next pass picks it up
        accepted.extend(spans)
        last_end = hi
        applied += 1
    out = source
    for s, e, edit in sorted(accepted, key=lambda t: (t[0], t[1]), reverse=True):
        out = out[:s] + edit.content + out[e:]
    return out, applied


def fix_source(
    source: str,
    filename: str = "<string>",
    *,
    unsafe: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> tuple[str, int, list[Finding]]:
    """Fix until stable. Returns (fixed source, fixes applied, findings that remain).

    A pass whose result would not parse is discarded, so the output always parses if the input did.
    """
    from .engine import review_source

    select = list(select) if select is not None else None
    ignore = list(ignore) if ignore is not None else None
    total = 0
    current = source
    findings = review_source(current, filename, select=select, ignore=ignore)
    for _ in range(MAX_PASSES):
        new, n = apply_fixes(current, findings, unsafe=unsafe)
        if n == 0 or new == current:
            break
        try:
            ast.parse(new)
        except SyntaxError:
            break
        current, total = new, total + n
        findings = review_source(current, filename, select=select, ignore=ignore)
    return current, total, findings
