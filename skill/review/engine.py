"""Review one source text: parse, run the enabled rules, apply noqa, build `Finding`s.

Never executes or imports the code under review. Any input (garbage bytes, null bytes, huge or
deeply nested files) gives findings or a `SourceParseError`, never a crash.
"""

from __future__ import annotations

import ast
import re
import sys
import warnings
from collections.abc import Iterable

from .analysis import Context
from .models import Finding, SourceError
from .rule import Diagnostic, Rule, iter_enabled, normalize_code

NOQA_RE = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z0-9_\-]+(?:[\s,]+[A-Za-z0-9_\-]+)*))?", re.IGNORECASE)


class SourceParseError(Exception):
    """The source could not be parsed; `error` says where and why."""

    def __init__(self, error: SourceError) -> None:
        loc = f":{error.line}" if error.line else ""
        super().__init__(f"{error.file}{loc}: {error.message}")
        self.error = error


def decode_source(data: bytes | str, filename: str = "<string>") -> str:
    """Bytes -> text, honouring a PEP 263 coding cookie; a clear error for binary/undecodable input."""
    if isinstance(data, str):
        return data[1:] if data.startswith("\ufeff") else data  # a BOM is an encoding mark, not code
    if b"\x00" in data:
        raise SourceParseError(SourceError(file=filename, message="binary file (contains null bytes); not Python source"))
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise SourceParseError(
            SourceError(file=filename, message=f"cannot decode source: {exc.__class__.__name__}: {exc}")
        ) from None


def parse_source(source: str, filename: str) -> ast.Module:
    if "\x00" in source:
        raise SourceParseError(SourceError(file=filename, message="source contains null bytes; not Python source"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for invalid escapes etc. is not our business
            return ast.parse(source, filename=filename, type_comments=False)
    except SyntaxError as exc:
        msg = f"SyntaxError: {exc.msg}"
        raise SourceParseError(
            SourceError(file=filename, line=exc.lineno, col=exc.offset, message=msg)
        ) from None
    except RecursionError:
        raise SourceParseError(
            SourceError(file=filename, message="source is nested too deeply for Python's parser")
        ) from None
    except (ValueError, MemoryError, OverflowError) as exc:
        raise SourceParseError(
            SourceError(file=filename, message=f"cannot parse source: {exc.__class__.__name__}: {exc}")
        ) from None


def review_source(
    source: str | bytes,
    filename: str = "<string>",
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    rules: Iterable[type[Rule]] | None = None,
    respect_noqa: bool = True,
    project=None,
    target_torch: str | None = None,
) -> list[Finding]:
    """Review Python source text and return the findings, sorted by position.

    Raises `SourceParseError` when the text is not Python (syntax error, binary data).
    `.ipynb` filenames are read as notebooks (the JSON document).
    `project` (a `skill.review.project.Project`) makes the other files of the reviewed tree visible to
    the analysis; without it the file is analysed alone. `target_torch` ('2.6') is the oldest torch the
    code must support (version-dependent rules read `ctx.target_torch`).
    """
    if filename.endswith(".ipynb"):
        from .notebook import review_notebook

        return review_notebook(source, filename, select=select, ignore=ignore, rules=rules)
    text = decode_source(source, filename)
    diagnostics, ctx = run_rules(
        text, filename, select=select, ignore=ignore, rules=rules, project=project, target_torch=target_torch
    )
    findings = [to_finding(d, filename, ctx) for d in diagnostics]
    if respect_noqa and "noqa" in text:
        findings = [f for f in findings if not suppressed(ctx.lines, f)]
    return findings


def run_rules(
    text: str,
    filename: str,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    rules: Iterable[type[Rule]] | None = None,
    project=None,
    target_torch: str | None = None,
) -> tuple[list[Diagnostic], Context]:
    from .project import Project

    # a file already parsed as another file's dependency: its context (tree and index) is reused
    ctx = project.parsed_context(filename, text) if project is not None else None
    if ctx is None:
        tree = project.parsed_tree(filename, text) if project is not None else None
        if tree is None:
            tree = parse_source(text, filename)
        try:
            ctx = Context(text, tree, filename)
        except RecursionError:  # pragma: no cover - the index is iterative; belt and braces
            raise SourceParseError(SourceError(file=filename, message="source is nested too deeply to analyse")) from None
    proj = project if project is not None else Project([])
    if target_torch:
        proj.target_torch = target_torch
    proj.register(ctx)
    try:
        return _run(ctx, filename, select, ignore, rules)
    finally:
        if project is not None:
            project.unregister(ctx)


def _run(ctx: Context, filename: str, select, ignore, rules) -> tuple[list[Diagnostic], Context]:
    chosen = list(rules) if rules is not None else _enabled(select, ignore)
    out: list[Diagnostic] = []
    seen: set[tuple[str, int, int]] = set()
    for rule_cls in chosen:
        try:
            for d in rule_cls().check(ctx):
                key = (rule_cls.code, d.line, d.col)
                if key not in seen:
                    seen.add(key)
                    out.append(d)
        except RecursionError:
            _internal(rule_cls, filename, "input nested too deeply")
        except Exception as exc:  # noqa: BLE001 -- one broken rule must not lose the other findings
            _internal(rule_cls, filename, f"{exc.__class__.__name__}: {exc}")
    out.sort(key=lambda d: (d.line, d.col, d.rule.code))
    return out, ctx


_ENABLED: dict = {}


def _enabled(select, ignore) -> list[type[Rule]]:
    """`iter_enabled` for one select/ignore pair, computed once per process (asked for every file)."""
    key = (tuple(select) if select is not None else None, tuple(ignore) if ignore is not None else None, len(Rule.registry))
    got = _ENABLED.get(key)
    if got is None:
        got = _ENABLED[key] = list(iter_enabled(select, ignore))
    return list(got)


def _internal(rule_cls: type[Rule], filename: str, what: str) -> None:
    print(f"pytorch-patterns: internal error in {rule_cls.code} on {filename}: {what}", file=sys.stderr)


def to_finding(d: Diagnostic, filename: str, ctx: Context | None = None) -> Finding:
    r = d.rule
    return Finding(
        file=filename,
        line=d.line,
        col=d.col + 1,
        end_line=d.end_line,
        end_col=d.end_col + 1,
        rule=r.code,
        name=r.name,
        severity=d.extra.get("severity", r.severity),  # a rule may grade one finding lower
        message=d.message,
        fix=d.fix,
    )


def noqa_codes(line_text: str) -> set[str] | None:
    """None if the line has no noqa; empty set for a bare `# noqa`; else the codes listed."""
    m = NOQA_RE.search(line_text)
    if not m:
        return None
    codes = m.group("codes")
    if not codes:
        return set()
    return {normalize_code(c) for c in re.split(r"[\s,]+", codes) if c}


def suppressed(lines: list[str], f: Finding) -> bool:
    """A `# noqa` (bare, or listing the rule's code) on the finding's anchor line silences it."""
    if not 0 < f.line <= len(lines):
        return False
    codes = noqa_codes(lines[f.line - 1])
    return codes is not None and (not codes or f.rule in codes)
