"""Pydantic models for the reviewer's results: what the CLI prints and the MCP server returns."""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(str, Enum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"


class Edit(BaseModel):
    """Replace the text between (line, col) and (end_line, end_col) with `content`.

    Lines are 1-based, columns 1-based in characters (not bytes), end exclusive.
    """

    model_config = ConfigDict(frozen=True)

    line: int
    col: int
    end_line: int
    end_col: int
    content: str


class Fix(BaseModel):
    model_config = ConfigDict(frozen=True)

    message: str = Field(description="What the fix does, in a few words.")
    applicability: Literal["safe", "unsafe"] = Field(
        description="'safe' fixes keep the meaning of the code; 'unsafe' ones may change behaviour."
    )
    edits: list[Edit]


class Finding(BaseModel):
    """One problem found by one rule at one place."""

    file: str
    line: int = Field(description="1-based line of the anchor (see the rule catalogue).")
    col: int = Field(description="1-based column, in characters.")
    end_line: int
    end_col: int
    rule: str = Field(description="Stable rule code, e.g. PT-DEV001.")
    name: str = Field(description="Rule name, e.g. hard-coded-cuda.")
    severity: Severity
    message: str
    fix: Fix | None = None
    cell: int | None = Field(default=None, description="Notebook cell (1-based) for .ipynb inputs.")


class SourceError(BaseModel):
    """An input that could not be reviewed (syntax error, unreadable file...)."""

    file: str
    line: int | None = None
    col: int | None = None
    message: str
    cell: int | None = None


class ReviewReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    errors: list[SourceError] = Field(default_factory=list)
    files_reviewed: int = 0
    fixed: int = Field(default=0, description="Number of fixes applied (with --fix).")
