"""Helpers that build autofix edits (insert an argument, append a keyword) at exact source positions.
"""

from __future__ import annotations

import ast

from .analysis import Context

def open_paren_position(ctx: Context, call: ast.Call) -> tuple[int, int] | None:
    """(line, 0-based char col) just after the `(` of `call`; None if a comment sits in between."""
    from .rule import char_col

    line = call.func.end_lineno
    col = char_col(ctx, line, call.func.end_col_offset)
    while line <= (call.end_lineno or line):
        text = ctx.line_text(line)
        while col < len(text):
            ch = text[col]
            if ch == "(":
                return line, col + 1
            if ch not in " \t\\":
                return None
            col += 1
        line, col = line + 1, 0
    return None


def insert_first_argument(ctx: Context, call: ast.Call, text: str):
    """An Edit that puts `text` first in the call's argument list (adding `, ` when others follow)."""
    from .models import Edit

    pos = open_paren_position(ctx, call)
    if pos is None:
        return None
    sep = ", " if (call.args or call.keywords) else ""
    return Edit(line=pos[0], col=pos[1] + 1, end_line=pos[0], end_col=pos[1] + 1, content=text + sep)


def append_keyword_argument(ctx: Context, call: ast.Call, text: str):
    """An Edit that adds `, name=value` right after the call's last argument (trailing commas stay valid)."""
    from .models import Edit
    from .rule import char_col

    last = max(
        [*call.args, *call.keywords],
        key=lambda n: (n.end_lineno, n.end_col_offset),
        default=None,
    )
    if last is None:
        return None
    line = last.end_lineno
    col = char_col(ctx, line, last.end_col_offset)
    return Edit(line=line, col=col + 1, end_line=line, end_col=col + 1, content=", " + text)
