"""Extract the marked code blocks and the links of the skill's markdown (SKILL.md and skill/docs/*.md).

The marker scheme is documented at the top of skill/docs/README.md: a fenced ``python`` block is preceded,
on the line directly above the fence, by ``<!-- bad: PT-XXX000 -->``, ``<!-- bad: unchecked -->``,
``<!-- good -->``, ``<!-- good, runnable -->`` or ``<!-- snippet -->``.
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from pathlib import Path

from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
SKILL_MD = REPO / "SKILL.md"
DOCS_DIR = REPO / "skill" / "docs"

FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(r"^<!--\s*(?P<body>[^>]*?)\s*-->\s*$")
RULE_CODE = re.compile(r"^PT-[A-Z]+\d{3}$")
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
PYTHON_LANGS = {"python", "py", "python3"}


class Kind(str, Enum):
    bad = "bad"
    bad_unchecked = "bad-unchecked"
    good = "good"
    snippet = "snippet"


class Block(BaseModel):
    """One fenced code block; `line` is the 1-based line of its first code line."""

    file: Path
    line: int
    lang: str
    code: str
    marker: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"


class Marked(BaseModel):
    """A python block's parsed marker."""

    kind: Kind
    rule: str | None = None
    runnable: bool = False


def doc_files() -> list[Path]:
    return [SKILL_MD, *sorted(DOCS_DIR.glob("*.md"))]


def parse_marker(text: str | None) -> Marked:
    """Marker text -> Marked; ValueError with the accepted forms for anything else."""
    if text is None:
        raise ValueError("missing marker line directly above the ```python fence")
    m = MARKER.match(text.strip())
    if not m:
        raise ValueError(f"line above the fence is not a marker comment: {text!r}")
    body = m.group("body").strip()
    if body == "good":
        return Marked(kind=Kind.good)
    if body == "good, runnable":
        return Marked(kind=Kind.good, runnable=True)
    if body == "snippet":
        return Marked(kind=Kind.snippet)
    if body == "bad: unchecked":
        return Marked(kind=Kind.bad_unchecked)
    if body.startswith("bad:"):
        code = body[4:].strip()
        if RULE_CODE.match(code):
            return Marked(kind=Kind.bad, rule=code)
    raise ValueError(
        f"unknown marker {body!r}; use 'bad: PT-XXX000', 'bad: unchecked', 'good', 'good, runnable' or 'snippet'"
    )


def iter_blocks(path: Path) -> list[Block]:
    """All fenced blocks of a markdown file, with the line above each fence kept as its marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group("fence"), m.group("info").strip().split(" ")[0].lower()
        marker = lines[i - 1] if i > 0 and lines[i - 1].strip().startswith("<!--") else None
        start = i + 1
        j = start
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence)) and lines[j].strip().strip(fence[0]) == ""):
            j += 1
        if j >= len(lines):
            raise ValueError(f"{path.relative_to(REPO)}:{i + 1}: unclosed code fence")
        blocks.append(Block(file=path, line=start + 1, lang=lang, code="\n".join(lines[start:j]) + "\n", marker=marker))
        i = j + 1
    return blocks


def python_blocks() -> list[Block]:
    return [b for f in doc_files() for b in iter_blocks(f) if b.lang in PYTHON_LANGS]


def strip_fences(text: str) -> list[str]:
    """The lines of a markdown text with fenced code blocks blanked."""
    out, in_fence, fence = [], False, ""
    for line in text.splitlines():
        m = FENCE_OPEN.match(line)
        if not in_fence and m:
            in_fence, fence = True, m.group("fence")[0] * 3
            out.append("")
            continue
        if in_fence:
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                in_fence = False
            out.append("")
            continue
        out.append(line)
    return out


def strip_code(text: str) -> list[str]:
    """As strip_fences, with inline code spans blanked too (links inside code are not links)."""
    return [re.sub(r"`[^`]*`", "``", line) for line in strip_fences(text)]


def slugify(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip()).lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in strip_fences(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = slugify(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every markdown link outside code."""
    found = []
    for lineno, line in enumerate(strip_code(path.read_text(encoding="utf-8")), start=1):
        for m in LINK.finditer(line):
            found.append((lineno, m.group("target")))
    return found
