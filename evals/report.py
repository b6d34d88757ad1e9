"""Reports: results.jsonl, summary.json (mean ± sd, pass@k, pass^k), markdown, self-contained HTML,
skill-creator's evals.json export, and the paired comparison of two runs (bootstrap CI)."""

from __future__ import annotations

import html
import json
import math
import random
import statistics
from collections import defaultdict
from pathlib import Path

from .schema import Task, TaskResult


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        k = n
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: the chance that k attempts drawn without replacement all pass, C(c, k) / C(n, k)."""
    if k > n:
        k = n
    return math.comb(c, k) / math.comb(n, k) if n else 0.0


def _mean_sd(xs: list[float]) -> dict:
    return {"mean": round(statistics.fmean(xs), 4) if xs else 0.0, "sd": round(statistics.stdev(xs), 4) if len(xs) > 1 else 0.0, "n": len(xs)}


def summarize(results: list[TaskResult], attempts: int, agent: str) -> dict:
    by_task: dict[str, list[TaskResult]] = defaultdict(list)
    for r in results:
        by_task[r.task].append(r)
    tasks = {}
    for tid, rs in sorted(by_task.items()):
        n, c = len(rs), sum(r.passed for r in rs)
        tasks[tid] = {
            "kind": rs[0].kind,
            "families": rs[0].families,
            "score": _mean_sd([r.score for r in rs]),
            "pass@1": round(pass_at_k(n, c, 1), 4),
            f"pass@{attempts}": round(pass_at_k(n, c, attempts), 4),
            f"pass^{attempts}": round(pass_hat_k(n, c, attempts), 4),
            "failed_checks": sorted({ch.name for r in rs for ch in r.checks if ch.passed is False}),
        }
    def group(key) -> dict:
        groups: dict[str, list[str]] = defaultdict(list)
        for tid, t in tasks.items():
            for g in key(t):
                groups[g].append(tid)
        return {
            g: {
                "tasks": len(ids),
                "score": _mean_sd([tasks[i]["score"]["mean"] for i in ids]),
                "pass@1": round(statistics.fmean(tasks[i]["pass@1"] for i in ids), 4),
            }
            for g, ids in sorted(groups.items())
        }
    overall_scores = [t["score"]["mean"] for t in tasks.values()]
    sandbox: dict[str, int] = defaultdict(int)
    for r in results:
        if r.sandbox is not None:
            sandbox[r.sandbox] += 1
    return {
        "agent": agent,
        "attempts": attempts,
        "tasks_run": len(tasks),
        "sandbox": dict(sorted(sandbox.items())),  # how the executed submissions were contained: level -> count
        "overall": {
            "score": _mean_sd(overall_scores),
            "pass@1": round(statistics.fmean(t["pass@1"] for t in tasks.values()), 4) if tasks else 0.0,
            f"pass@{attempts}": round(statistics.fmean(t[f"pass@{attempts}"] for t in tasks.values()), 4) if tasks else 0.0,
            f"pass^{attempts}": round(statistics.fmean(t[f"pass^{attempts}"] for t in tasks.values()), 4) if tasks else 0.0,
        },
        "by_kind": group(lambda t: [t["kind"]]),
        "by_family": group(lambda t: t["families"]),
        "tasks": tasks,
    }


def write_reports(out_dir: Path, results: list[TaskResult], summary: dict) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out_dir / "results.jsonl",
        "summary": out_dir / "summary.json",
        "markdown": out_dir / "summary.md",
        "html": out_dir / "report.html",
    }
    paths["results"].write_text("".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8")
    paths["summary"].write_text(json.dumps(summary, indent=2), encoding="utf-8")
    paths["markdown"].write_text(markdown(summary), encoding="utf-8")
    paths["html"].write_text(html_report(summary, results), encoding="utf-8")
    return paths


def sandbox_line(levels: dict[str, int]) -> str:
    """One sentence on how the executed submissions were contained, with a warning when they were not isolated."""
    if not levels:
        return "No submission code was executed."
    parts = ", ".join(f"{name} ({n})" for name, n in levels.items())
    weak = sum(n for name, n in levels.items() if name != "full")
    warning = (f" Warning: {weak} scoring(s) ran without full isolation (--allow-weak-sandbox): their code could "
               "read and write the user's files, use the network and see the environment." if weak else "")
    return f"Submissions ran under sandbox containment: {parts}.{warning}"


def markdown(summary: dict) -> str:
    o = summary["overall"]
    k = summary["attempts"]
    lines = [
        f"# Eval results: agent `{summary['agent']}`",
        "",
        f"{summary['tasks_run']} tasks, {k} attempt(s) each. Mean score **{o['score']['mean']:.3f} ± {o['score']['sd']:.3f}**, "
        f"pass@1 **{o['pass@1']:.3f}**, pass@{k} {o[f'pass@{k}']:.3f}, pass^{k} {o[f'pass^{k}']:.3f}.",
        "",
        sandbox_line(summary.get("sandbox") or {}),
        "",
        "## By kind",
        "",
        "| kind | tasks | score (mean ± sd) | pass@1 |",
        "|---|---|---|---|",
    ]
    for name, g in summary["by_kind"].items():
        lines.append(f"| {name} | {g['tasks']} | {g['score']['mean']:.3f} ± {g['score']['sd']:.3f} | {g['pass@1']:.3f} |")
    lines += ["", "## By rule family", "", "| family | tasks | score (mean ± sd) | pass@1 |", "|---|---|---|---|"]
    for name, g in summary["by_family"].items():
        lines.append(f"| {name} | {g['tasks']} | {g['score']['mean']:.3f} ± {g['score']['sd']:.3f} | {g['pass@1']:.3f} |")
    lines += ["", "## Tasks", "", "| task | kind | score | pass@1 | failed checks |", "|---|---|---|---|---|"]
    for tid, t in summary["tasks"].items():
        lines.append(f"| {tid} | {t['kind']} | {t['score']['mean']:.3f} | {t['pass@1']:.2f} | {', '.join(t['failed_checks'])} |")
    return "\n".join(lines) + "\n"


def _bars(title: str, items: list[tuple[str, float]]) -> str:
    """A horizontal bar chart as inline SVG (no external assets)."""
    row, width, label_w = 22, 640, 200
    h = row * len(items) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="0" y="15" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(items):
        y = 25 + i * row
        w = max(0.0, min(1.0, value)) * (width - label_w - 60)
        color = "#2e7d32" if value >= 0.999 else "#f9a825" if value >= 0.5 else "#c62828"
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{html.escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="14" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 5:.1f}" y="{y + 14}" font-size="12">{value:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(summary: dict, results: list[TaskResult]) -> str:
    o = summary["overall"]
    kinds = [(k, g["score"]["mean"]) for k, g in summary["by_kind"].items()]
    fams = [(k, g["score"]["mean"]) for k, g in summary["by_family"].items()]
    tasks = [(k, t["score"]["mean"]) for k, t in summary["tasks"].items()]
    rows = []
    for r in results:
        checks = " ".join(
            f'<span class="{"ok" if c.passed else "no" if c.passed is False else "skip"}" title="{html.escape(c.detail)}">{html.escape(c.name)}</span>'
            for c in r.checks
        )
        rows.append(f"<tr><td>{html.escape(r.task)}</td><td>{r.kind}</td><td>{r.attempt}</td><td>{r.score:.2f}</td><td>{checks}</td>"
                    f"<td>{html.escape(r.error or '')}</td><td>{r.wall_s:.1f}s</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pytorch-patterns evals: {html.escape(summary['agent'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:4px 8px;font-size:13px}} .ok{{color:#2e7d32}} .no{{color:#c62828;font-weight:bold}}
.skip{{color:#999}} span{{margin-right:6px}}
</style></head><body>
<h1>pytorch-patterns evals</h1>
<p>Agent <b>{html.escape(summary['agent'])}</b>, {summary['tasks_run']} tasks, {summary['attempts']} attempt(s).
Mean score <b>{o['score']['mean']:.3f} ± {o['score']['sd']:.3f}</b>, pass@1 <b>{o['pass@1']:.3f}</b>.</p>
{_bars("Score by kind", kinds)}
{_bars("Score by rule family", fams)}
{_bars("Score by task", tasks)}
<h2>Attempts</h2>
<table><tr><th>task</th><th>kind</th><th>attempt</th><th>score</th><th>checks (hover for details)</th><th>error</th><th>time</th></tr>
{''.join(rows)}
</table></body></html>
"""


def load_results(run_dir: Path) -> list[TaskResult]:
    path = run_dir / "results.jsonl" if run_dir.is_dir() else run_dir
    return [TaskResult.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def compare_runs(a: list[TaskResult], b: list[TaskResult], *, n_boot: int = 10_000, seed: int = 0) -> dict:
    """Paired per-task difference (B - A) of mean scores, with a bootstrap 95% CI over tasks."""
    def per_task(rs):
        d: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            d[r.task].append(r.score)
        return {k: statistics.fmean(v) for k, v in d.items()}

    sa, sb = per_task(a), per_task(b)
    common = sorted(set(sa) & set(sb))
    if not common:
        raise ValueError("the two runs have no task in common")
    diffs = [sb[t] - sa[t] for t in common]
    rng = random.Random(seed)
    boots = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(n_boot))
    lo, hi = boots[int(0.025 * n_boot)], boots[int(0.975 * n_boot) - 1]
    return {
        "tasks": len(common),
        "mean_a": round(statistics.fmean(sa[t] for t in common), 4),
        "mean_b": round(statistics.fmean(sb[t] for t in common), 4),
        "delta": round(statistics.fmean(diffs), 4),
        "ci95": [round(lo, 4), round(hi, 4)],
        "b_better": sum(d > 0 for d in diffs),
        "a_better": sum(d < 0 for d in diffs),
        "ties": sum(d == 0 for d in diffs),
        "per_task": {t: round(sb[t] - sa[t], 4) for t in common},
        "only_in_a": sorted(set(sa) - set(sb)),
        "only_in_b": sorted(set(sb) - set(sa)),
    }


def export_evals_json(tasks: list[Task], skill_name: str = "pytorch-patterns") -> dict:
    """skill-creator's evals/evals.json: one entry per task with its prompt, expected outcome and files."""
    evals = []
    for i, t in enumerate(tasks, start=1):
        files = sorted(str(p.relative_to(t.root)) for p in t.inputs_dir.rglob("*") if p.is_file()) if t.inputs_dir.is_dir() else []
        expectations = [f"passes the harness check `{c.name}`" for c in t.checks]
        if t.kind == "review":
            expectations += [f"reports {e.rule} at {e.file}:{e.line}" for e in t.expected]
        evals.append({
            "id": i,
            "name": t.id,
            "prompt": t.prompt,
            "expected_output": f"{t.title} ({t.kind} task; scored by execution with `pytorch-patterns eval run`)",
            "files": [f"evals/tasks/{t.id}/{f}" for f in files],
            "expectations": expectations,
        })
    return {"skill_name": skill_name, "evals": evals}
