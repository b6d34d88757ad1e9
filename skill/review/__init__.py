"""The static PyTorch reviewer: pure `ast` analysis, never imports or runs the reviewed code.

Public API:
    review_source(source, filename=...) -> list[Finding]
    review_paths(paths, ...)            -> ReviewReport
    all_rules(), get_rule(code)         -> the rule catalogue
    apply_fixes(source, findings, ...)  -> fixed source
"""

from .engine import SourceParseError, review_source
from .files import review_paths
from .fixes import apply_fixes, fix_source
from .models import Edit, Finding, Fix, ReviewReport, Severity, SourceError
from .rule import Rule, all_rules, get_rule

__all__ = [
    "Edit",
    "Finding",
    "Fix",
    "ReviewReport",
    "Rule",
    "Severity",
    "SourceError",
    "SourceParseError",
    "all_rules",
    "apply_fixes",
    "fix_source",
    "get_rule",
    "review_paths",
    "review_source",
]
