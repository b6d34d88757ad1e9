"""Rendering a `DoctorReport`: a rich terminal summary, JSON, and a self-contained HTML page (inline SVG charts
of the loss, LR, gradient norm and update-to-weight ratio with the findings beside them; no JavaScript, no CDN)."""

from __future__ import annotations

import html
import json
import math
import os
from typing import TextIO

from pytorch_patterns.reference_impls.doctor.run import DoctorReport
from pytorch_patterns.skill.review.models import Severity

SEVERITY_STYLE = {Severity.high: "bold red", Severity.medium: "yellow", Severity.low: "cyan", Severity.info: "dim"}


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../..") else path


def render_json(report: DoctorReport) -> str:
    return report.model_dump_json(indent=2)


def render_text(report: DoctorReport, file: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, highlight=False, soft_wrap=True)
    head = (f"[bold]{_rel(report.script)}[/bold]: {report.steps} optimizer step(s) ({report.stop_reason}), "
            f"{report.wall_s:.1f} s")
    if report.ranks > 1:
        head += f", {report.ranks} ranks"
    console.print(head)
    stats = []
    if report.throughput_steps_s:
        stats.append(f"{report.throughput_steps_s:.1f} steps/s")
    if report.data_wait_share is not None:
        stats.append(f"data wait {report.data_wait_share:.0%}")
    if report.syncs_per_step is not None:
        stats.append(f"{report.syncs_per_step:g} host syncs/step")
    if report.peak_rss_mb:
        stats.append(f"peak RSS {report.peak_rss_mb:.0f} MB")
    if report.cuda_max_allocated_mb:
        stats.append(f"CUDA max allocated {report.cuda_max_allocated_mb:.0f} MB")
    if report.clip:
        stats.append(f"clipped {report.clip['clipped_share']:.0%} of steps (median norm "
                     f"{report.clip['median_norm']:.3g}, max_norm {report.clip['max_norm']:g})")
    losses = [x for x in report.series.loss if x is not None]
    if losses:
        stats.append(f"loss {losses[0]:.4g} -> {losses[-1]:.4g}")
    if stats:
        console.print("  " + ", ".join(stats), style="dim")
    for verdict, name in ((report.determinism, "determinism"), (report.resume, "resume")):
        if verdict is not None:
            console.print(f"  {name}: {'[green]ok[/green]' if verdict.passed else '[red]FAILED[/red]'} "
                          f"({verdict.detail})")
    for f in report.findings:
        where = f"{_rel(f.file)}:{f.line}"
        step = f" (step {f.step})" if f.step is not None else ""
        ranks = f" [ranks {','.join(map(str, f.ranks))}]" if f.ranks else ""
        console.print(f"{where}: [{SEVERITY_STYLE[f.severity]}]{f.rule}[/] {f.name}{step}{ranks}: {f.message}")
    if report.profile:
        table = Table(title="top operators (torch.profiler)", box=None)
        for col in ("op", "calls", "self CPU ms", "CPU ms", "device ms"):
            table.add_column(col)
        for row in report.profile[:10]:
            table.add_row(row["op"], str(row["calls"]), f"{row['self_cpu_ms']:.2f}", f"{row['cpu_ms']:.2f}",
                          "" if row.get("device_ms") is None else f"{row['device_ms']:.2f}")
        console.print(table)
    for note in report.notes:
        console.print(f"  note: {note}", style="dim")
    if report.error:
        console.print(f"[red]error[/red]: {report.error}")
    n = len(report.findings)
    console.print(f"Found {n} finding{'s' if n != 1 else ''}." + (" Explain one with `pytorch-patterns rules CODE`."
                                                                   if n else ""))


# ---------------------------------------------------------------- HTML
def _svg_chart(title: str, xs: list[int], ys: list[float | None], marks: list[int], *, log: bool = False,
               width: int = 520, height: int = 170) -> str:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None and math.isfinite(y) and (y > 0 or not log)]
    esc = html.escape(title)
    if len(pts) < 1:
        return f'<figure><figcaption>{esc}</figcaption><p class="none">no data</p></figure>'
    tf = (lambda v: math.log10(v)) if log else (lambda v: v)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    vals = [tf(p[1]) for p in pts]
    y0, y1 = min(vals), max(vals)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    if x1 == x0:
        x1 = x0 + 1
    pad = 36

    def sx(x):
        return pad + (x - x0) / (x1 - x0) * (width - pad - 8)

    def sy(v):
        return height - 20 - (v - y0) / (y1 - y0) * (height - 34)

    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(tf(y)):.1f}" for i, (x, y) in enumerate(pts))
    lines = [f'<line x1="{sx(m):.1f}" x2="{sx(m):.1f}" y1="10" y2="{height - 20}" class="mark"/>'
             for m in marks if x0 <= m <= x1]
    fmt = (lambda v: f"1e{v:.1f}") if log else (lambda v: f"{v:.3g}")
    return (f'<figure><figcaption>{esc}{" (log scale)" if log else ""}</figcaption>'
            f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{esc}">'
            f'<rect x="{pad}" y="10" width="{width - pad - 8}" height="{height - 30}" class="frame"/>'
            + "".join(lines) +
            f'<path d="{path}" class="curve"/>'
            f'<text x="2" y="16" class="tick">{fmt(y1)}</text><text x="2" y="{height - 20}" class="tick">'
            f'{fmt(y0)}</text><text x="{pad}" y="{height - 4}" class="tick">step {x0}</text>'
            f'<text x="{width - 60}" y="{height - 4}" class="tick">step {x1}</text></svg></figure>')


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px 24px}
figure{margin:0}figcaption{font-weight:600;margin:6px 0}.frame{fill:#fafafa;stroke:#ccc}
.curve{fill:none;stroke:#1565c0;stroke-width:1.6}.mark{stroke:#d32f2f;stroke-dasharray:3 3}
.tick{font-size:10px;fill:#666}table{border-collapse:collapse;margin:8px 0}
td,th{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
.high{color:#b71c1c;font-weight:600}.medium{color:#e65100}.low{color:#00695c}.info{color:#666}
.layout{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:24px}.none{color:#999}
code{background:#f3f3f3;padding:1px 4px}"""


def render_html(report: DoctorReport) -> str:
    s = report.series
    marks = [f.step for f in report.findings if f.step is not None]
    charts = "".join([
        _svg_chart("loss", s.step, s.loss, marks),
        _svg_chart("learning rate (optimizer 0, group 0)", s.step, s.lr, marks),
        _svg_chart("gradient norm (before clipping)", s.step, s.grad_norm, marks, log=True),
        _svg_chart("update-to-weight ratio (median of sampled tensors)", s.step, s.update_ratio, marks, log=True),
    ])
    rows = "".join(
        f'<tr><td class="{f.severity.value}">{html.escape(f.rule)}<br>{html.escape(f.name)}</td>'
        f"<td><code>{html.escape(_rel(f.file))}:{f.line}</code>"
        f"{'' if f.step is None else f' step {f.step}'}<br>{html.escape(f.message)}</td></tr>"
        for f in report.findings) or '<tr><td colspan="2">No findings.</td></tr>'
    facts = {"steps": report.steps, "stopped": report.stop_reason, "wall time (s)": report.wall_s,
             "throughput (steps/s)": report.throughput_steps_s, "data wait share": report.data_wait_share,
             "worker start-up (s)": report.worker_startup_s, "host syncs / step": report.syncs_per_step,
             "peak RSS (MB)": report.peak_rss_mb, "CUDA max allocated (MB)": report.cuda_max_allocated_mb,
             "ranks": report.ranks, "clipping": json.dumps(report.clip) if report.clip else None}
    for verdict, name in ((report.determinism, "determinism"), (report.resume, "resume")):
        if verdict is not None:
            facts[name] = f"{'ok' if verdict.passed else 'FAILED'}: {verdict.detail}"
    fact_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in facts.items() if v is not None)
    prof = ""
    if report.profile:
        prof = ("<h2>Top operators</h2><table><tr><th>op</th><th>calls</th><th>self CPU ms</th><th>CPU ms</th></tr>"
                + "".join(f"<tr><td>{html.escape(r['op'])}</td><td>{r['calls']}</td><td>{r['self_cpu_ms']}</td>"
                          f"<td>{r['cpu_ms']}</td></tr>" for r in report.profile[:15]) + "</table>")
    error = f"<p class=\"high\">{html.escape(report.error)}</p>" if report.error else ""
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>doctor: "
            f"{html.escape(os.path.basename(report.script))}</title><style>{CSS}</style></head><body>"
            f"<h1>Training doctor: <code>{html.escape(_rel(report.script))}</code> "
            f"{html.escape(' '.join(report.args))}</h1>{error}"
            f"<div class=\"layout\"><div><div class=\"grid\">{charts}</div>"
            f"<table>{fact_rows}</table>{prof}</div>"
            f"<div><h2>Findings ({len(report.findings)})</h2><table>{rows}</table>"
            f"<p class=\"info\">Dashed red lines mark the step of each finding. Explain a code with "
            f"<code>pytorch-patterns rules PT-RUN001</code>.</p></div></div></body></html>\n")
