"""`pytorch-patterns review PATH...`: the static reviewer from the command line and in CI.

Exit status: 0 clean, 1 findings, 2 usage or input error (missing path, syntax error, bad config).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path


def _codes(value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review",
        help="review PyTorch code (files, directories, notebooks, '-' for stdin)",
        description="Statically review PyTorch code for the anti-patterns of the rule catalogue. "
        "Never imports or runs the reviewed code.",
    )
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files, directories, .ipynb, or '-' (stdin)")
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    p.add_argument("--select", type=_codes, action="extend", help="comma-separated codes or prefixes (e.g. PT-DEV,PT-IO002, ALL)")
    p.add_argument("--ignore", type=_codes, action="extend", help="comma-separated codes or prefixes to skip")
    p.add_argument("--extend-select", type=_codes, action="extend", help="add codes to the default/configured selection")
    p.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    p.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes (with --fix or --diff)")
    p.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; change nothing")
    p.add_argument("--config", type=Path, help="a pyproject.toml (or TOML file) to read settings from")
    p.add_argument("--no-config", action="store_true", help="ignore [tool.pytorch-patterns] settings")
    p.add_argument("-o", "--output", type=Path, help="write the report to this file instead of stdout")
    p.add_argument("--stdin-filename", default=None, help="name to report for '-' input")
    p.add_argument("-j", "--jobs", type=int, default=None, help="worker processes for directories (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.add_argument("--target-torch", default=None, metavar="X.Y",
                   help="oldest torch version the code must support (default: config target-torch, else 2.6)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pytorch_patterns import __version__
    from pytorch_patterns.skill.review.config import ConfigError, ReviewConfig, load_config
    from pytorch_patterns.skill.review.output import render_json, render_sarif, render_text, summary_line
    from pytorch_patterns.skill.review.rule import first_unknown_code

    bad = first_unknown_code([*(args.select or []), *(args.ignore or []), *(args.extend_select or [])])
    if bad is not None:
        print(f"pytorch-patterns: error: unknown rule code or prefix {bad!r} (see `pytorch-patterns rules`)", file=sys.stderr)
        return 2
    try:
        if args.no_config:
            config = ReviewConfig()
        else:
            first = next((Path(p) for p in args.paths if p != "-"), Path.cwd())
            config = load_config(args.config, start=first if first.exists() else Path.cwd())
    except ConfigError as exc:
        print(f"pytorch-patterns: error: {exc}", file=sys.stderr)
        return 2

    if args.target_torch is not None:
        import re

        if not re.fullmatch(r"\d+(\.\d+){0,2}", args.target_torch):
            print(f"pytorch-patterns: error: --target-torch expects a version like 2.6, got {args.target_torch!r}", file=sys.stderr)
            return 2
        config.target_torch = args.target_torch

    select = args.select
    if select is None:
        select = config.effective_select()
    if args.extend_select:
        from pytorch_patterns.skill.review.rule import iter_enabled

        base = select if select is not None else [r.code for r in iter_enabled(None, None)]
        select = [*base, *args.extend_select]

    fixing = args.fix or args.diff
    stdin_data: bytes | None = None
    paths = list(args.paths)
    if "-" in paths:
        stdin_data = sys.stdin.buffer.read()

    report = _review(paths, stdin_data, args.stdin_filename, select, args.ignore, config, args.jobs)
    if report.files_reviewed == 0 and not report.errors:
        where = ", ".join(str(p) for p in paths)
        print(f"pytorch-patterns: error: no Python files or notebooks to review in {where} "
              "(excluded folders and paths in the config are skipped)", file=sys.stderr)
        return 2
    if fixing:
        report = _fix(report, paths, stdin_data, args, select, config)

    if args.format == "json":
        text = render_json(report)
    elif args.format == "sarif":
        text = render_sarif(report, __version__)
    else:
        text = render_text(report)
    fixed_stdin = args.fix and not args.diff and stdin_data is not None
    if args.output:
        args.output.write_text(text + ("\n" if text else ""), encoding="utf-8")
    elif text:
        # with `--fix -` stdout carries the fixed source, so the findings go to stderr
        print(text, file=sys.stderr if fixed_stdin else sys.stdout)
    for err in report.errors:
        cell = f"cell {err.cell}:" if err.cell else ""
        where = f"{err.file}:{cell}{err.line}:{err.col or 1}" if err.line else err.file
        print(f"{where}: error: {err.message}", file=sys.stderr)
    would_fix = report.fixed if args.diff else 0
    if args.diff:
        report.fixed = 0
        if args.format == "text" and not args.quiet and would_fix:
            print(f"Would fix {would_fix} finding{'s' if would_fix != 1 else ''}.", file=sys.stderr)
    if args.format == "text" and not args.quiet and (report.files_reviewed or not report.errors):
        print(summary_line(report), file=sys.stderr)  # nothing reviewed: the error line alone says it
    if report.errors:
        return 2
    if would_fix:
        return 1  # like ruff: a non-empty diff fails the check
    return 1 if report.findings else 0


def _review(paths, stdin_data, stdin_name, select, ignore, config, jobs):
    from pytorch_patterns.skill.review import ReviewReport, SourceParseError, review_paths, review_source

    file_paths = [p for p in paths if p != "-"]
    report = review_paths(file_paths, select=select, ignore=ignore, config=config, jobs=jobs) if file_paths else ReviewReport()
    if stdin_data is not None:
        name = stdin_name or "-"
        try:
            report.findings.extend(review_source(stdin_data, name, select=select, ignore=[*(ignore or []), *config.ignores_for(name)], target_torch=config.target_torch))
        except SourceParseError as exc:
            report.errors.append(exc.error)
        report.files_reviewed += 1
    return report


def _fix(report, paths, stdin_data, args, select, config):
    """Apply fixes file by file (or print a diff), then report what remains."""
    from pytorch_patterns.skill.review import ReviewReport, fix_source
    from pytorch_patterns.skill.review.engine import decode_source

    by_file: dict[str, list] = {}
    for f in report.findings:
        if f.fix is not None and not f.file.endswith(".ipynb"):
            by_file.setdefault(f.file, []).append(f)
    remaining = [f for f in report.findings if f.file not in by_file]
    total = 0
    for file, _ in by_file.items():
        is_stdin = file == (args.stdin_filename or "-") and stdin_data is not None
        original = decode_source(stdin_data if is_stdin else Path(file).read_bytes(), file)
        ignore = [*(args.ignore or []), *config.ignores_for(file)]
        fixed, n, left = fix_source(original, file, unsafe=args.unsafe_fixes, select=select, ignore=ignore)
        remaining.extend(left)
        total += n
        if fixed == original:
            continue
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(original.splitlines(True), fixed.splitlines(True), f"a/{file}", f"b/{file}")
            )
        elif is_stdin:
            sys.stdout.write(fixed)
        else:
            _atomic_write(Path(file), fixed)
    remaining.sort(key=lambda f: (f.file, f.cell or 0, f.line, f.col, f.rule))
    return ReviewReport(findings=remaining, errors=report.errors, files_reviewed=report.files_reviewed, fixed=total)


def _atomic_write(path: Path, text: str) -> None:
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
