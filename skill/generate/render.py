"""A tiny, readable templating layer for emitted code.

Templates are plain Python source with three additions:

* ``$name`` / ``${name}`` placeholders (``string.Template``; ``$`` never appears in the emitted code),
* a line ``@@if flag@@`` ... ``@@else@@`` ... ``@@end@@`` keeps one branch (flags may be ``!flag``;
  blocks nest),
* a line prefix ``@@flag@@ code`` keeps that one line only when ``flag`` is true (``@@!flag@@`` negates),
* a line prefix ``@@~flag@@ if ...:`` marks a guard: kept when ``flag`` is true; when false the guard line goes
  and the block under it moves one level (4 spaces) left (``if is_main:`` only where there are ranks).

After rendering, runs of blank lines are normalised: at most two between top-level blocks, one inside.
"""

from __future__ import annotations

import re
from string import Template

_BLOCK = re.compile(r"^\s*@@(if (!?\w+)|else|end)@@\s*$")
_LINE = re.compile(r"^(\s*)@@([!~]?)(\w+)@@ ?(.*)$")


def _flag(flags: dict[str, bool], name: str) -> bool:
    negate = name.startswith("!")
    key = name.lstrip("!")
    if key not in flags:
        raise KeyError(f"template flag {key!r} is not defined")
    return bool(flags[key]) != negate


def render(template: str, flags: dict[str, bool], **subs: object) -> str:
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (this branch active, parent active)
    guards: list[int] = []  # indents of dropped guard lines whose blocks move left
    active = True

    def emit(text: str) -> None:
        indent = len(text) - len(text.lstrip())
        while guards and text.strip() and indent <= guards[-1]:
            guards.pop()
        shift = 4 * len(guards)
        out.append(text[shift:] if text[:shift].isspace() else text)

    for line in template.splitlines():
        m = _BLOCK.match(line)
        if m:
            kind = m.group(1)
            if kind.startswith("if "):
                stack.append((active, active))
                active = active and _flag(flags, m.group(2))
                stack[-1] = (active, stack[-1][1])
            elif kind == "else":
                was_active, parent = stack[-1]
                active = parent and not was_active
                stack[-1] = (active or was_active, parent)
            else:
                _, parent = stack.pop()
                active = parent
            continue
        if not active:
            continue
        m = _LINE.match(line)
        if m:
            indent, mode, name, rest = m.groups()
            if mode == "~":
                if _flag(flags, name):
                    emit(indent + rest)
                else:
                    level = len(indent + rest) - len((indent + rest).lstrip())
                    while guards and level <= guards[-1]:
                        guards.pop()
                    guards.append(level)
            elif _flag(flags, mode + name):
                emit(indent + rest)
            continue
        emit(line)
    if stack:
        raise ValueError("unbalanced @@if@@ in template")
    text = Template("\n".join(out)).substitute({k: str(v) for k, v in subs.items()})
    return tidy(text)


def tidy(code: str) -> str:
    """Collapse blank-line runs: two before top-level statements, at most one elsewhere."""
    lines = [line.rstrip() for line in code.splitlines()]
    out: list[str] = []
    blanks = 0
    for line in lines:
        if not line:
            blanks += 1
            continue
        if out:
            top_level_def = not line[0].isspace() and re.match(r"(def|class|@|async def|if __name__)", line)
            attached = out[-1].startswith("@") or (out[-1].startswith("#") and not blanks)
            if top_level_def and not attached:
                want = 2
            elif line[0].isspace() and re.match(r"\s+(def|@|class) ", line) and blanks:
                want = 1
            else:
                want = min(blanks, 2 if not line[0].isspace() else 1)
            out.extend([""] * want)
        blanks = 0
        out.append(line)
    return "\n".join(out) + "\n"
