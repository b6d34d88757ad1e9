"""`pytorch-patterns rules [CODE]`: list the rule catalogue or explain one rule."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list the rules, or explain one (`rules PT-GRAD002`)")
    p.add_argument("code", nargs="?", help="a rule code (PT-GRAD002, GRAD002) or name (missing-zero-grad)")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    from pytorch_patterns.skill.review.catalogue import find_rule, rule_doc_markdown, rule_info, rules_markdown
    from pytorch_patterns.skill.review.rule import all_rules

    console = Console()
    if args.code:
        rule = find_rule(args.code)
        if rule is None:
            print(f"pytorch-patterns: error: no rule {args.code!r} (see `pytorch-patterns rules`)", file=sys.stderr)
            return 2
        if args.format == "json":
            print(json.dumps(rule_info(rule).model_dump(mode="json"), indent=2))
        elif args.format == "markdown" or not sys.stdout.isatty():
            print(rule_doc_markdown(rule))
        else:
            console.print(Markdown(rule_doc_markdown(rule)))
        return 0
    rules = all_rules()
    if args.format == "json":
        print(json.dumps([rule_info(r).model_dump(mode="json") for r in rules], indent=2))
    elif args.format == "markdown":
        print(rules_markdown())
    else:
        table = Table(show_header=True, header_style="bold", box=None)
        for col in ("code", "name", "severity", "default", "fix", "summary"):
            table.add_column(col, overflow="fold")
        for r in rules:
            table.add_row(r.code, r.name, r.severity.value, "on" if r.default_enabled else "opt-in", r.fix_applicability or "", r.summary)
        Console(width=max(console.width, 160) if not sys.stdout.isatty() else None).print(table)
    return 0
