"""The rule base class and the registry.

A rule is one small class in its own module under `skill/review/rules/`; defining the class registers
it. Adding a rule touches that one module (plus its fixtures under tests/).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from .analysis import Context
from .models import Edit, Fix, Severity

CODE_RE = re.compile(r"^PT-[A-Z]+\d{3}$")

FAMILIES = {
    "DEV": "device",
    "REP": "reproducibility",
    "MODE": "mode",
    "GRAD": "autograd",
    "MEM": "memory",
    "MOD": "modules",
    "IO": "checkpoint",
    "DATA": "data",
    "AMP": "amp",
    "SHAPE": "shapes",
    "LOSS": "losses",
    "OPT": "optim",
    "DEP": "api",
    "API": "api",
    "NUM": "numerics",
    "PERF": "performance",
    "STYLE": "style",
}


@dataclass(slots=True)
class Diagnostic:
    """What a rule reports; the engine turns it into a `Finding` (file, severity, noqa, notebooks)."""

    rule: type[Rule]
    line: int
    col: int  # 0-based, in characters
    end_line: int
    end_col: int
    message: str
    fix: Fix | None = None
    extra: dict = field(default_factory=dict)


class Rule:
    """Base class. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]  # one line: what it flags
    why: ClassVar[str]  # why it is wrong
    fix_text: ClassVar[str]  # how to fix it
    bad: ClassVar[str]  # example that is flagged
    good: ClassVar[str]  # the corrected example (not flagged)
    default_enabled: ClassVar[bool] = True  # noisy rules are opt-in (select them by code)
    fix_applicability: ClassVar[Literal["safe", "unsafe"] | None] = None

    registry: ClassVar[dict[str, type[Rule]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "code", None) is None or cls.__dict__.get("abstract", False):
            return
        if not CODE_RE.match(cls.code):
            raise ValueError(f"bad rule code {cls.code!r}")
        if cls.code in Rule.registry and Rule.registry[cls.code] is not cls:
            raise ValueError(f"duplicate rule code {cls.code}")
        for attr in ("name", "severity", "summary", "why", "fix_text", "bad", "good"):
            if not hasattr(cls, attr):
                raise TypeError(f"{cls.__name__} ({cls.code}) lacks {attr!r}")
        Rule.registry[cls.code] = cls

    @classmethod
    def family(cls) -> str:
        prefix = cls.code.split("-", 1)[1].rstrip("0123456789")
        return FAMILIES.get(prefix, prefix.lower())

    def check(self, ctx: Context) -> Iterable[Diagnostic]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers for subclasses
    def report(
        self,
        ctx: Context,
        node: ast.AST,
        message: str | None = None,
        fix: Fix | None = None,
        *,
        whole: bool = False,
    ) -> Diagnostic:
        """A diagnostic anchored at `node`.

        For a call the anchor is the callee name's line (the spec's anchor for multi-line calls) and
        the range ends at the end of the call; `whole=True` keeps the node's own start instead.
        """
        start = node
        if not whole and isinstance(node, ast.Call):
            start = node.func.value if isinstance(node.func, ast.Attribute) else node.func
            if isinstance(node.func, ast.Attribute):
                # anchor at the attribute name itself, e.g. `.cuda` in a multi-line chain
                line, col = _attr_name_position(ctx, node.func)
                return self._diag(ctx, line, col, node, message, fix)
        return self._diag(ctx, start.lineno, start.col_offset, node, message, fix, byte_col=True)  # type: ignore[attr-defined]

    def report_at(
        self, ctx: Context, line: int, col: int = 0, message: str | None = None, fix: Fix | None = None
    ) -> Diagnostic:
        return Diagnostic(type(self), line, col, line, col, message or self.summary, fix)

    def _diag(
        self,
        ctx: Context,
        line: int,
        col: int,
        node: ast.AST,
        message: str | None,
        fix: Fix | None,
        byte_col: bool = False,
    ) -> Diagnostic:
        if byte_col:
            col = char_col(ctx, line, col)
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        end_col = char_col(ctx, end_line, end_col) if end_col is not None else col
        return Diagnostic(type(self), line, col, end_line, end_col, message or self.summary, fix)

    def make_fix(self, message: str, edits: list[Edit], applicability: str | None = None) -> Fix:
        return Fix(message=message, applicability=applicability or self.fix_applicability or "safe", edits=edits)


def char_col(ctx: Context, line: int, byte_col: int) -> int:
    """ast gives UTF-8 byte offsets; convert to a character offset on that line."""
    text = ctx.line_text(line)
    if text.isascii():
        return byte_col
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def replace_node(ctx: Context, node: ast.AST, content: str) -> Edit:
    """An edit replacing the source text of `node` (1-based character columns)."""
    return Edit(
        line=node.lineno,  # type: ignore[attr-defined]
        col=char_col(ctx, node.lineno, node.col_offset) + 1,  # type: ignore[attr-defined]
        end_line=node.end_lineno,  # type: ignore[attr-defined]
        end_col=char_col(ctx, node.end_lineno, node.end_col_offset) + 1,  # type: ignore[attr-defined]
        content=content,
    )


def _attr_name_position(ctx: Context, attr: ast.Attribute) -> tuple[int, int]:
    """(line, 0-based char col) of the attribute name in `value.attr` (may be on a later line)."""
    end_line = attr.end_lineno or attr.lineno
    end_col = char_col(ctx, end_line, attr.end_col_offset or 0)
    col = end_col - len(attr.attr)
    return end_line, max(col, 0)


_SORTED: tuple[int, list] = (-1, [])


def all_rules() -> list[type[Rule]]:
    """Every registered rule, in catalogue order (sorted once per registry size: asked for every file)."""
    global _SORTED
    from . import rules  # noqa: F401 -- importing the package registers every rule

    if _SORTED[0] != len(Rule.registry):
        _SORTED = (len(Rule.registry), [Rule.registry[c] for c in sorted(Rule.registry, key=_code_key)])
    return list(_SORTED[1])


def get_rule(code: str) -> type[Rule] | None:
    all_rules()
    return Rule.registry.get(normalize_code(code))


def first_unknown_code(codes: Iterable[str]) -> str | None:
    """The first entry that is neither a rule code, a code prefix (PT-DEV) nor ALL; None if all are known."""
    known = [r.code for r in all_rules()]
    for code in codes:
        norm = normalize_code(code)
        if norm != "ALL" and not any(k.startswith(norm) for k in known):
            return code
    return None


def normalize_code(code: str) -> str:
    code = code.strip().upper()
    if not code.startswith("PT-") and code != "ALL":
        code = "PT-" + code
    return code


def _code_key(code: str) -> tuple[int, str]:
    order = list(FAMILIES)
    prefix = code.split("-", 1)[1].rstrip("0123456789")
    return (order.index(prefix) if prefix in order else 99, code)


def iter_enabled(select: Iterable[str] | None, ignore: Iterable[str] | None) -> Iterator[type[Rule]]:
    """Rules enabled by select/ignore lists of codes or prefixes ('PT-DEV', 'PT-DEV001', 'ALL').

    Without `select`, the default-enabled rules run. A rule selected by its exact code always runs.
    """
    sel = [normalize_code(s) for s in select] if select else None
    ign = [normalize_code(s) for s in ignore] if ignore else []
    for rule in all_rules():
        if sel is None:
            on = rule.default_enabled
        else:
            on = any(
                s == "ALL" or s == rule.code or (rule.code.startswith(s) and rule.default_enabled) for s in sel
            )
        if on and not any(i == "ALL" or rule.code.startswith(i) for i in ign):
            yield rule
