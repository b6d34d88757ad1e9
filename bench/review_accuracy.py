"""Accuracy of the static reviewer on the labelled corpus in tests/corpus/.

Each `tests/corpus/<name>.py` is a realistic PyTorch script written for this benchmark; `<name>.txt` beside it
lists the findings the rule catalogue (docs: the spec's `anchor` lines) expects, one `LINE CODE` per line,
text after '#' ignored; an empty file means the script is clean. Every file is reviewed with the default rule
set and findings are matched to labels by (rule, line): exactly by default, or within `--tolerance N` lines
(one finding matches at most one label; the held-out judge scores at a one-line tolerance). Micro recall and
precision are computed over the whole corpus.

Labels of a rule that the reviewer knows but does not enable by default (opt-in rules) are not scored and are
listed separately; labels of a rule the reviewer does not know at all count as misses.

Run:  python bench/review_accuracy.py [--verbose] [--corpus DIR] [--tolerance N]
The test tests/review/test_corpus_accuracy.py imports this file by path (bench/ is not a package).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, Field

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT / "tests" / "corpus"
LABEL_LINE = re.compile(r"^(\d+)\s+(PT-[A-Z]+\d{3})$")


class LabelError(ValueError):
    """A corpus that cannot be scored: missing directory, bad or missing labels file."""


class Mark(BaseModel):
    """One (file, line, rule) triple: an expected label or a reported finding."""

    file: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.rule}"


class RuleScore(BaseModel):
    rule: str
    true_positives: int = 0
    misses: int = 0
    false_alarms: int = 0

    @property
    def recall(self) -> float | None:
        expected = self.true_positives + self.misses
        return self.true_positives / expected if expected else None

    @property
    def precision(self) -> float | None:
        reported = self.true_positives + self.false_alarms
        return self.true_positives / reported if reported else None


class CorpusScore(BaseModel):
    files: int
    clean_files: int
    labels: int = Field(description="Scored labels (opt-in rules excluded).")
    findings: int = Field(description="Findings reported by the default rule set.")
    true_positives: int
    misses: list[Mark]
    false_alarms: list[Mark]
    unscored_labels: list[Mark] = Field(description="Labels of opt-in rules: not enabled by default, not scored.")
    unknown_rules: list[str] = Field(description="Labelled rules the reviewer does not implement (their labels are misses).")
    per_rule: list[RuleScore]

    @property
    def recall(self) -> float:
        expected = self.true_positives + len(self.misses)
        return self.true_positives / expected if expected else 1.0

    @property
    def precision(self) -> float:
        reported = self.true_positives + len(self.false_alarms)
        return self.true_positives / reported if reported else 1.0


def read_labels(txt: Path) -> set[tuple[int, str]]:
    """Parse a labels file into {(line, code)}; raises LabelError naming the file and line on bad input."""
    labels: set[tuple[int, str]] = set()
    for number, raw in enumerate(txt.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        match = LABEL_LINE.match(text)
        if match is None:
            raise LabelError(f"{txt}:{number}: expected 'LINE PT-XXX000', got {raw!r}")
        labels.add((int(match.group(1)), match.group(2)))
    return labels


def corpus_files(corpus: Path = DEFAULT_CORPUS) -> list[Path]:
    """The corpus scripts, each checked to have a labels file with anchors inside the script."""
    if not corpus.is_dir():
        raise LabelError(f"corpus directory {corpus} does not exist")
    scripts = sorted(corpus.glob("*.py"))
    if not scripts:
        raise LabelError(f"no .py files in corpus directory {corpus}")
    for script in scripts:
        txt = script.with_suffix(".txt")
        if not txt.is_file():
            raise LabelError(f"{script} has no labels file {txt.name}")
        n_lines = len(script.read_text(encoding="utf-8").splitlines())
        for line, code in read_labels(txt):
            if not 1 <= line <= n_lines:
                raise LabelError(f"{txt}: label {line} {code} is outside {script.name} (1..{n_lines})")
    orphans = sorted(t.name for t in corpus.glob("*.txt") if not t.with_suffix(".py").is_file())
    if orphans:
        raise LabelError(f"labels without a script in {corpus}: {', '.join(orphans)}")
    return scripts


def match_marks(
    expected: set[tuple[int, str]], found: set[tuple[int, str]], tolerance: int = 0
) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[tuple[int, str]]]:
    """(matched labels, missed labels, unmatched findings): same rule, lines at most `tolerance` apart, one-to-one.

    Exact-line pairs are taken first, then the nearest remaining finding of the same rule.
    """
    matched: list[tuple[int, str]] = []
    free = set(found)
    pending = []
    for label in sorted(expected):
        if label in free:
            free.discard(label)
            matched.append(label)
        else:
            pending.append(label)
    missed: list[tuple[int, str]] = []
    for line, code in pending:
        near = sorted((abs(fl - line), fl) for fl, fc in free if fc == code and abs(fl - line) <= tolerance)
        if near:
            free.discard((near[0][1], code))
            matched.append((line, code))
        else:
            missed.append((line, code))
    return sorted(matched), missed, sorted(free)


def score_corpus(corpus: Path = DEFAULT_CORPUS, tolerance: int = 0) -> CorpusScore:
    from pytorch_patterns.skill.review import all_rules, review_source

    rules = {rule.code: rule for rule in all_rules()}
    opt_in = {code for code, rule in rules.items() if not rule.default_enabled}
    per_rule: dict[str, RuleScore] = {}
    misses: list[Mark] = []
    false_alarms: list[Mark] = []
    unscored: list[Mark] = []
    labelled_rules: set[str] = set()
    true_positives = n_labels = n_findings = clean = 0

    def tally(code: str) -> RuleScore:
        return per_rule.setdefault(code, RuleScore(rule=code))

    scripts = corpus_files(corpus)
    for script in scripts:
        name = script.name
        labels = read_labels(script.with_suffix(".txt"))
        clean += not labels
        labelled_rules.update(code for _, code in labels)
        for line, code in sorted(labels):
            if code in opt_in:
                unscored.append(Mark(file=name, line=line, rule=code))
        expected = {(line, code) for line, code in labels if code not in opt_in}
        found = {(f.line, f.rule) for f in review_source(script.read_text(encoding="utf-8"), str(script))}
        n_labels += len(expected)
        n_findings += len(found)
        matched, missed, unmatched = match_marks(expected, found, tolerance)
        for line, code in matched:
            true_positives += 1
            tally(code).true_positives += 1
        for line, code in missed:
            misses.append(Mark(file=name, line=line, rule=code))
            tally(code).misses += 1
        for line, code in unmatched:
            false_alarms.append(Mark(file=name, line=line, rule=code))
            tally(code).false_alarms += 1

    return CorpusScore(
        files=len(scripts),
        clean_files=clean,
        labels=n_labels,
        findings=n_findings,
        true_positives=true_positives,
        misses=misses,
        false_alarms=false_alarms,
        unscored_labels=unscored,
        unknown_rules=sorted(labelled_rules - set(rules)),
        per_rule=[per_rule[code] for code in sorted(per_rule)],
    )


def format_marks(marks: list[Mark]) -> str:
    return "\n".join(f"  {m}" for m in marks) or "  (none)"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_report(score: CorpusScore, verbose: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{score.files}[/] files ({score.clean_files} clean), {score.labels} labels, "
        f"{score.findings} findings: recall [bold]{score.recall:.3f}[/], precision [bold]{score.precision:.3f}[/] "
        f"({score.true_positives} matched, {len(score.misses)} missed, {len(score.false_alarms)} false alarms)"
    )
    if score.unknown_rules:
        console.print(f"rules labelled but not implemented: {', '.join(score.unknown_rules)}")
    if score.unscored_labels:
        console.print(f"{len(score.unscored_labels)} labels of opt-in rules not scored")
    table = Table(title="per rule")
    for column in ("rule", "matched", "missed", "false alarms", "recall", "precision"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rs in score.per_rule:
        table.add_row(rs.rule, str(rs.true_positives), str(rs.misses), str(rs.false_alarms),
                      _ratio(rs.recall), _ratio(rs.precision))
    console.print(table)
    if verbose or score.misses or score.false_alarms:
        by_rule: dict[str, list[str]] = defaultdict(list)
        for kind, marks in (("miss", score.misses), ("false alarm", score.false_alarms)):
            for m in marks:
                by_rule[m.rule].append(f"{kind:11s} {m.file}:{m.line}")
        console.print("[bold]misses and false alarms by rule[/]")
        for rule in sorted(by_rule):
            console.print(f"{rule}", highlight=False)
            for entry in by_rule[rule]:
                console.print(f"  {entry}", highlight=False)
    if verbose and score.unscored_labels:
        console.print("[bold]unscored (opt-in) labels[/]")
        console.print(format_marks(score.unscored_labels), highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="directory of <name>.py + <name>.txt")
    parser.add_argument("--verbose", action="store_true", help="also list unscored labels")
    parser.add_argument("--tolerance", type=int, default=0, help="lines a finding may be off its label (judge: 1)")
    args = parser.parse_args(argv)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        if args.tolerance < 0:
            raise LabelError("--tolerance must be >= 0")
        score = score_corpus(args.corpus, args.tolerance)
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_report(score, args.verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
