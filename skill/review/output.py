"""Rendering findings: ruff-like text, JSON, and SARIF 2.1.0 for GitHub code scanning."""

from __future__ import annotations

import json
from pathlib import Path, PurePath

from .models import Finding, ReviewReport, Severity, SourceError
from .rule import all_rules

TOOL_URI = "https://github.com/pytorch-patterns/pytorch-patterns"

SARIF_LEVEL = {Severity.high: "error", Severity.medium: "warning", Severity.low: "note", Severity.info: "note"}
# GitHub sorts alerts by this (0.0-10.0)
SECURITY_SEVERITY = {Severity.high: "7.0", Severity.medium: "5.0", Severity.low: "3.0", Severity.info: "1.0"}


def location(f: Finding | SourceError) -> str:
    cell = f"cell {f.cell}:" if getattr(f, "cell", None) else ""
    line = f.line if f.line is not None else 1
    col = f.col if f.col is not None else 1
    return f"{f.file}:{cell}{line}:{col}"


def render_text(report: ReviewReport, *, show_fixes: bool = True) -> str:
    out = []
    for f in report.findings:
        marker = " [*]" if f.fix is not None and f.fix.applicability == "safe" and show_fixes else ""
        out.append(f"{location(f)}: {f.rule}{marker} {f.message}")
    return "\n".join(out)


def summary_line(report: ReviewReport) -> str:
    n = len(report.findings)
    fixable = sum(1 for f in report.findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in report.findings if f.fix is not None and f.fix.applicability == "unsafe")
    parts = [f"Found {n} finding{'s' if n != 1 else ''} in {report.files_reviewed} file{'s' if report.files_reviewed != 1 else ''}."]
    if report.fixed:
        parts.append(f"Fixed {report.fixed}.")
    if fixable:
        parts.append(f"[*] {fixable} fixable with --fix.")
    if unsafe:
        parts.append(f"{unsafe} more with --unsafe-fixes.")
    return " ".join(parts)


def render_json(report: ReviewReport) -> str:
    return json.dumps([f.model_dump(mode="json") for f in report.findings], indent=2)


def _uri(path: str) -> str:
    p = PurePath(path)
    if p.is_absolute():
        try:
            p = Path(path).resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return Path(path).resolve().as_uri()
    return p.as_posix()


def render_sarif(report: ReviewReport, version: str) -> str:
    rules = all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    sarif_rules = []
    for r in rules:
        sarif_rules.append(
            {
                "id": r.code,
                "name": "".join(w.capitalize() for w in r.name.split("-")),
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.why},
                "help": {
                    "text": f"{r.why}\n\nFix: {r.fix_text}",
                    "markdown": f"{r.why}\n\n**Fix:** {r.fix_text}\n\nBad:\n```python\n{r.bad}```\n\nGood:\n```python\n{r.good}```",
                },
                "helpUri": f"{TOOL_URI}/blob/main/skill/docs/rules.md#{r.code.lower()}-{r.name}",
                "defaultConfiguration": {"level": SARIF_LEVEL[r.severity], "enabled": r.default_enabled},
                "properties": {
                    "tags": ["pytorch", r.family()],
                    "precision": "high" if r.severity in (Severity.high, Severity.medium) else "medium",
                    "problem.severity": {"high": "error", "medium": "warning"}.get(r.severity.value, "recommendation"),
                },
            }
        )
    results = []
    for f in report.findings:
        region = {"startLine": f.line, "startColumn": f.col, "endLine": max(f.end_line, f.line), "endColumn": f.end_col if f.end_line > f.line or f.end_col > f.col else f.col + 1}
        result = {
            "ruleId": f.rule,
            "ruleIndex": index.get(f.rule, 0),
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.file), "uriBaseId": "%SRCROOT%"}, "region": region}}],
            "partialFingerprints": {"primaryLocationLineHash": f"{f.rule}:{f.line}"},
        }
        if f.cell:
            result["properties"] = {"cell": f.cell}
        if f.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": f.fix.message},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": _uri(f.file), "uriBaseId": "%SRCROOT%"},
                            "replacements": [
                                {
                                    "deletedRegion": {"startLine": e.line, "startColumn": e.col, "endLine": e.end_line, "endColumn": e.end_col},
                                    "insertedContent": {"text": e.content},
                                }
                                for e in f.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    notifications = [
        {
            "level": "error",
            "message": {"text": e.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e.file)}, **({"region": {"startLine": e.line}} if e.line else {})}}],
        }
        for e in report.errors
    ]
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "pytorch-patterns", "informationUri": TOOL_URI, "version": version, "semanticVersion": version, "rules": sarif_rules}},
                "invocations": [{"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}],
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().resolve().as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2)
