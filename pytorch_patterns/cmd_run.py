"""`pytorch-patterns run` (reference implementations) and `pytorch-patterns compare` (KernelBench-style).

Nothing heavy is imported here at module level: torch only ever loads in the child processes.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run", help="run a reference implementation in a sandboxed child process",
        description="Train a reference implementation for a few steps in a child process (timeout, memory cap) "
                    "and report device, losses, metric, throughput, memory, time split and optional "
                    "determinism/resume verdicts. The implementations are this project's own code, so they run "
                    "with process containment only (sandbox level weak: every process killed at the end, files "
                    "and network not isolated); untrusted code (eval submissions, compare candidates) runs "
                    "under bubblewrap.")
    run.add_argument("name", nargs="?", help="implementation name (see --list)")
    run.add_argument("--list", action="store_true", help="list the implementations, one line each")
    run.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    run.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the smoke size)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--amp", choices=["auto", "none", "bf16", "fp16"], default=None,
                     help="autocast precision (default: the implementation's own)")
    run.add_argument("--allow-slow-amp", action="store_true",
                     help="run bf16/fp16 even on a CPU that emulates it (40-130x slower matmuls)")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (12-50 s cold on CPUs)")
    run.add_argument("--check-determinism", action="store_true", help="run twice, compare losses bit for bit")
    run.add_argument("--check-resume", action="store_true",
                     help="run half, checkpoint, resume; compare with the uninterrupted run")
    run.add_argument("--threads", type=int, default=None, help="torch intra-op threads in the child")
    run.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit in seconds")
    run.add_argument("--memory-mb", type=int, default=6144, help="resident memory cap of the child's processes")
    run.add_argument("--format", choices=["text", "json"], default="text")
    run.set_defaults(func=_run)

    cmp = subparsers.add_parser(
        "compare", help="check a candidate module against a KernelBench-style reference, then time both",
        description="REFERENCE defines Model, get_inputs(), get_init_inputs(); CANDIDATE defines ModelNew "
                    "(or Model). Correctness over seeded trials (allclose), then timing after warm-up.")
    cmp.add_argument("reference", nargs="?", help="reference module path (or the name of a shipped one, see --list)")
    cmp.add_argument("candidate", nargs="?", help="candidate module path")
    cmp.add_argument("--list", action="store_true", help="list the shipped reference modules")
    cmp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    cmp.add_argument("--trials", type=int, default=5)
    cmp.add_argument("--seed", type=int, default=42)
    cmp.add_argument("--warmup", type=int, default=3)
    cmp.add_argument("--iters", type=int, default=20)
    cmp.add_argument("--timeout", type=float, default=300.0)
    cmp.add_argument("--memory-mb", type=int, default=6144)
    cmp.add_argument("--format", choices=["text", "json"], default="text")
    cmp.add_argument("--allow-weak-sandbox", action="store_true",
                     help="run the candidate even where bubblewrap cannot isolate it (process containment only)")
    cmp.set_defaults(func=_compare)


# ---------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pytorch_patterns.reference_impls import registry
    from pydantic import ValidationError

    from pytorch_patterns.reference_impls.runner import RunOptions, run_reference, validate

    console = Console()
    err = Console(stderr=True, soft_wrap=True)
    if args.list:
        if args.format == "json":
            print("[" + ",".join(i.model_dump_json() for i in registry.list_impls()) + "]")
        else:
            for info in registry.list_impls():
                console.print(f"[bold]{info.name:<18}[/bold] {info.summary}", highlight=False, soft_wrap=True)
        return 0
    if not args.name:
        err.print("error: give an implementation name, or --list")
        return 2
    try:
        options = RunOptions(device=args.device, steps=args.steps, seed=args.seed, amp=args.amp,
                             compile=args.compile, check_determinism=args.check_determinism,
                             check_resume=args.check_resume, timeout_s=args.timeout, memory_mb=args.memory_mb,
                             allow_slow_amp=args.allow_slow_amp, threads=args.threads, warm=False)
        validate(args.name, options)
    except ValidationError as exc:
        err.print(f"error: {_one_line(exc)}", highlight=False)
        return 2
    except ValueError as exc:
        err.print(f"error: {exc}", highlight=False)
        return 2
    if args.device == "cuda" and not _has_nvidia():
        err.print("error: --device cuda, but this machine has no NVIDIA GPU (no /dev/nvidia*); use --device auto or cpu",
                  highlight=False)
        return 2

    if args.format == "json" or not sys.stdout.isatty():
        report = run_reference(args.name, options)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]{task.fields[name]}"), BarColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("starting", total=None, name=args.name)

            def progress(completed: float, total: float | None, message: str) -> None:
                bar.update(task, completed=completed, total=total, description=message)

            report = run_reference(args.name, options, progress=progress)

    if args.format == "json":
        print(report.model_dump_json(indent=2))
    else:
        _print_report(console, report)
    return 0 if report.ok else 1


def _print_report(console, report) -> None:
    from rich.table import Table

    table = Table(title=f"{report.name}: {'ok' if report.ok else 'FAILED'}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if report.device:
        d = report.device
        extra = f", native bf16: {'yes' if d.native_bf16 else 'no'}" if d.native_bf16 is not None else ""
        mem = f", {d.memory_mb} MB" if d.memory_mb else ""
        threads = f", {d.threads} threads" if d.threads else ""
        table.add_row("device", f"{d.type}: {d.name} ({d.capability}{extra}{mem}{threads})")
        table.add_row("torch", f"{report.torch_version} (python {report.python_version})")
        table.add_row("run", f"{report.steps} steps, amp {report.amp}, compile {'on' if report.compiled else 'off'}, "
                             f"seed {report.options.seed}, {'warm' if report.warm_start else 'cold'} worker")
    if report.losses:
        first, last = report.losses[0], report.losses[-1]
        table.add_row("loss", f"{first:.4f} -> {last:.4f} ({len(report.losses)} steps)")
    if report.metric_name:
        metric = "-" if report.eval_metric is None else f"{report.eval_metric:.4f}"
        table.add_row(report.metric_name, metric)
    if report.throughput:
        table.add_row("throughput", f"{report.throughput:,.0f} {report.throughput_unit}")
    if report.peak_rss_mb:
        cuda = f", CUDA max allocated {report.cuda_max_allocated_mb:.0f} MB" if report.cuda_max_allocated_mb else ""
        table.add_row("peak memory", f"RSS {report.peak_rss_mb:.0f} MB{cuda}")
    if report.timings:
        t = report.timings
        table.add_row("time", f"start-up {t.startup_s:.2f} s, compile {t.compile_s:.2f} s, train {t.train_s:.2f} s, "
                              f"eval {t.eval_s:.2f} s, checks {t.checks_s:.2f} s, total {t.total_s:.2f} s "
                              f"(runner overhead {t.runner_overhead_s:.2f} s)")
    for label, verdict in (("determinism", report.determinism), ("resume", report.resume)):
        if verdict is not None:
            mark = "[green]PASS[/green]" if verdict.passed else "[red]FAIL[/red]"
            table.add_row(label, f"{mark} {verdict.detail}")
    for warning in report.warnings:
        table.add_row("[yellow]warning[/yellow]", warning)
    if report.error:
        table.add_row("[red]error[/red]", report.error)
    console.print(table)
    if report.output_tail:
        console.print(report.output_tail, markup=False, highlight=False)


# ---------------------------------------------------------------- compare


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from pydantic import ValidationError

    from pytorch_patterns.reference_impls import compare as cmp

    console = Console()
    err = Console(stderr=True, soft_wrap=True)
    if args.list:
        for path in cmp.list_kernel_references():
            console.print(f"[bold]{path.stem:<22}[/bold] {cmp.summary(path)}", highlight=False, soft_wrap=True)
        return 0
    if not args.reference or not args.candidate:
        err.print("error: give REFERENCE and CANDIDATE paths")
        return 2
    import os

    from pytorch_patterns.reference_impls.sandbox import ALLOW_WEAK_ENV, describe_level, sandbox_level

    if args.allow_weak_sandbox:
        os.environ[ALLOW_WEAK_ENV] = "1"
    err.print(describe_level(untrusted=True), highlight=False, markup=False)  # before anything runs
    if sandbox_level()[0] != "full" and not args.allow_weak_sandbox:
        err.print("error: refusing to run the candidate (untrusted code) without full isolation; "
                  "pass --allow-weak-sandbox to run it anyway", highlight=False, markup=False)
        return 2
    try:
        reference = cmp.resolve_reference(args.reference)
        candidate = Path(args.candidate)
        options = cmp.CompareOptions(device=args.device, trials=args.trials, seed=args.seed, warmup=args.warmup,
                                     iters=args.iters, timeout_s=args.timeout, memory_mb=args.memory_mb)
        for label, path in (("reference", reference), ("candidate", candidate)):
            problem = _syntax_problem(path)
            if problem:
                err.print(f"error: the {label} {path} {problem}", highlight=False)
                return 2
        if args.device == "cuda" and not _has_nvidia():
            err.print("error: --device cuda, but this machine has no NVIDIA GPU; use --device auto or cpu", highlight=False)
            return 2
        report = cmp.compare(reference, candidate, options)
    except ValidationError as exc:
        err.print(f"error: {_one_line(exc)}", highlight=False)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        err.print(f"error: {exc}", highlight=False)
        return 2
    if args.format == "json":
        print(report.model_dump_json(indent=2))
    else:
        style = "green" if report.correct else "red"
        tol = f"{report.tolerance:g}" if report.tolerance is not None else "-"
        console.print(f"[bold]{report.candidate}[/bold] vs {report.reference}: "
                      f"[{style}]{'correct' if report.correct else 'NOT correct'}[/{style}] "
                      f"({report.trials_passed}/{report.trials} trials, dtype {report.dtype}, "
                      f"atol=rtol={tol})", highlight=False, soft_wrap=True)
        if report.max_abs_diff is not None:
            console.print(f"max |diff| {report.max_abs_diff:.3g}", highlight=False)
        if report.speedup is not None:
            console.print(f"reference {report.reference_ms:.3f} ms, candidate {report.candidate_ms:.3f} ms "
                          f"-> speed-up [bold]{report.speedup:.2f}x[/bold] on {report.device} "
                          f"({report.timer})", highlight=False)
        for problem in report.problems:
            console.print(f"[red]problem:[/red] {problem}", highlight=False)
        if report.output_tail:
            console.print(report.output_tail, markup=False, highlight=False)
    return 0 if report.correct else 1


def _one_line(exc) -> str:
    """A pydantic error as one line: `--steps: must be >= 1`-style, no URLs."""
    parts = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"]) or "input"
        parts.append(f"--{field.replace('_', '-')}: {e['msg'][:1].lower() + e['msg'][1:]}")
    return "; ".join(parts)


def _has_nvidia() -> bool:
    from pathlib import Path

    return any(Path("/dev").glob("nvidia[0-9]*"))


def _syntax_problem(path) -> str | None:
    import ast

    try:
        ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        return f"does not parse: {exc.msg} (line {exc.lineno})"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    return None
