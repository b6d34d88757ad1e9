"""Pydantic input and output models of the MCP tools (beyond the core library's own models)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from pytorch_patterns.skill.review import Finding

MAX_RESULT_CHARS = 30_000  # ~10k tokens: results are paginated to stay under this


class ReviewInput(BaseModel):
    source: str | None = Field(default=None, max_length=2_000_000)
    path: str | None = Field(default=None, max_length=4096)
    filename: str | None = Field(default=None, max_length=4096)
    select: list[str] | None = Field(default=None, max_length=200)
    ignore: list[str] | None = Field(default=None, max_length=200)
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _one_input(self) -> ReviewInput:
        if (self.source is None) == (self.path is None):
            raise ValueError("give exactly one of `source` (the code) or `path` (a file in the workspace)")
        return self


class ReviewResult(BaseModel):
    findings: list[Finding]
    total: int = Field(description="Findings in the whole input (all pages).")
    offset: int
    next_offset: int | None = Field(description="Pass as `offset` to get the next page; null on the last page.")
    by_rule: dict[str, int] = Field(description="Count of findings per rule code over the whole input.")
    summary: str


def paginate_findings(findings: list[Finding], offset: int, limit: int) -> ReviewResult:
    """One page of findings, shrunk further if its JSON would exceed the result budget."""
    by_rule = dict(sorted(Counter(f.rule for f in findings).items()))
    page = findings[offset : offset + limit]
    while len(page) > 1 and len(json.dumps([f.model_dump(mode="json") for f in page])) > MAX_RESULT_CHARS:
        page = page[: len(page) // 2]
    end = offset + len(page)
    next_offset = end if end < len(findings) else None
    if findings:
        top = ", ".join(f"{code} x{n}" for code, n in sorted(by_rule.items(), key=lambda kv: -kv[1])[:8])
        summary = f"{len(findings)} finding(s): {top}."
        if next_offset is not None:
            summary += f" Showing {offset + 1}-{end}; call again with offset={next_offset} for more."
    else:
        summary = "No findings."
    return ReviewResult(findings=page, total=len(findings), offset=offset, next_offset=next_offset, by_rule=by_rule, summary=summary)


class RunInput(BaseModel):
    name: str = Field(max_length=100)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    steps: int | None = Field(default=None, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0)
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"
    compile: bool = False
    check_determinism: bool = False
    check_resume: bool = False
    timeout_s: float = Field(default=600, gt=0, le=3600)


class CompareInput(BaseModel):
    reference_source: str | None = Field(default=None, max_length=1_000_000)
    candidate_source: str | None = Field(default=None, max_length=1_000_000)
    reference_path: str | None = Field(default=None, max_length=4096)
    candidate_path: str | None = Field(default=None, max_length=4096)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    trials: int = Field(default=5, ge=1, le=50)
    timeout_s: float = Field(default=300, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_each(self) -> CompareInput:
        if (self.reference_source is None) == (self.reference_path is None):
            raise ValueError("give exactly one of `reference_source` or `reference_path`")
        if (self.candidate_source is None) == (self.candidate_path is None):
            raise ValueError("give exactly one of `candidate_source` or `candidate_path`")
        return self
