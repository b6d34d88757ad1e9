"""`pytorch-patterns eval run|calibrate|compare|list|export`: the eval harness."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score an agent's PyTorch work by execution (run, calibrate, compare, list, export)")
    esub = p.add_subparsers(dest="eval_command", metavar="ACTION")

    def add_sandbox_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--allow-weak-sandbox", action="store_true",
                       help="run submissions and agent commands even where bubblewrap cannot isolate them (process "
                            "containment only: no file, network or environment isolation). Default: refuse")
        q.add_argument("--require-isolation", action="store_true", help=argparse.SUPPRESS)  # the default now

    def add_task_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--tasks", type=Path, default=None, help="a folder of tasks in the evals/tasks format (default: the bundled suite)")
        q.add_argument("--only", action="append", default=None,
                       help="task ids or kinds to run: a comma list (fix-missing-zero-grad,review), repeatable")
        q.add_argument("-j", "--jobs", type=int, default=None, help="tasks in parallel (default: all cores)")

    run = esub.add_parser("run", help="run the suite with an agent and write the reports")
    add_task_args(run)
    add_sandbox_args(run)
    who = run.add_mutually_exclusive_group()
    who.add_argument("--agent", default="oracle", help="built-in agent: oracle, empty, inputs, reviewer (default: oracle)")
    who.add_argument("--submissions", type=Path, help="submissions on disk: DIR/<task>/<attempt>/files/")
    who.add_argument("--agent-cmd", help="a command run in a fresh workspace per task and attempt (prompt on stdin and in $PP_PROMPT_FILE)")
    run.add_argument("--agent-env", action="append", default=[], metavar="NAME",
                     help="pass this environment variable to --agent-cmd (repeatable; e.g. ANTHROPIC_API_KEY). "
                          "The agent command gets no other variable of yours")
    run.add_argument("--agent-no-network", action="store_true",
                     help="run --agent-cmd without network access (for local agents)")
    run.add_argument("--attempts", type=int, default=1, help="attempts per task (pass@k, pass^k)")
    run.add_argument("-o", "--output", type=Path, default=None, help="report folder (default: runs/eval-<agent>-<time>)")
    run.add_argument("--keep-submissions", action="store_true", help="save each submission under OUTPUT/submissions/")
    run.set_defaults(func=_run)

    cal = esub.add_parser("calibrate", help="prove every task: oracle 1.0, empty 0, each mutant fails exactly its check")
    add_task_args(cal)
    add_sandbox_args(cal)
    cal.set_defaults(func=_calibrate)

    cmp_ = esub.add_parser("compare", help="paired per-task difference of two runs with a bootstrap 95%% CI")
    cmp_.add_argument("run_a", type=Path)
    cmp_.add_argument("run_b", type=Path)
    cmp_.add_argument("--format", choices=["text", "json"], default="text")
    cmp_.set_defaults(func=_compare)

    lst = esub.add_parser("list", help="list the tasks")
    add_task_args(lst)
    lst.set_defaults(func=_list)

    exp = esub.add_parser("export", help="write skill-creator's evals.json for the tasks")
    add_task_args(exp)
    exp.add_argument("-o", "--output", type=Path, default=Path("evals/evals.json"))
    exp.set_defaults(func=_export)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _load(args):
    import os

    from pytorch_patterns.evals.checks import REQUIRE_ISOLATION_ENV
    from pytorch_patterns.evals.harness import BUILTIN_TASKS
    from pytorch_patterns.evals.schema import TaskError, load_tasks

    from pytorch_patterns.reference_impls.sandbox import ALLOW_WEAK_ENV, describe_level, sandbox_level

    if getattr(args, "require_isolation", False):
        os.environ[REQUIRE_ISOLATION_ENV] = "1"  # read by every scoring thread when it starts a submission
    if getattr(args, "allow_weak_sandbox", False) and not getattr(args, "require_isolation", False):
        os.environ[ALLOW_WEAK_ENV] = "1"
    if hasattr(args, "allow_weak_sandbox"):  # run / calibrate: say which level BEFORE anything runs
        print(describe_level(untrusted=True), file=sys.stderr, flush=True)
        weak_ok = getattr(args, "allow_weak_sandbox", False) and not getattr(args, "require_isolation", False)
        if sandbox_level()[0] != "full" and not weak_ok:
            print("pytorch-patterns: error: refusing to run untrusted code without full isolation "
                  "(install bubblewrap, allow unprivileged user namespaces, or pass --allow-weak-sandbox)",
                  file=sys.stderr)
            return None

    only = [part.strip() for item in args.only for part in item.split(",") if part.strip()] if args.only else None
    try:
        return load_tasks(args.tasks or BUILTIN_TASKS, only)
    except TaskError as exc:
        print(f"pytorch-patterns: error: {exc}", file=sys.stderr)
        return None


def _run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pytorch_patterns.evals.harness import make_agent, run_suite
    from pytorch_patterns.evals.report import sandbox_line, summarize, write_reports

    tasks = _load(args)
    if tasks is None:
        return 2
    if args.submissions is not None and not args.submissions.is_dir():
        print(f"pytorch-patterns: error: --submissions {args.submissions} is not a directory", file=sys.stderr)
        return 2
    try:
        agent = make_agent(args.agent, args.submissions, args.agent_cmd, agent_env=args.agent_env,
                           agent_network=not args.agent_no_network)
    except ValueError as exc:
        print(f"pytorch-patterns: error: {exc}", file=sys.stderr)
        return 2
    out = args.output or Path("runs") / f"eval-{agent.name.replace(':', '-').replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
    console = Console(stderr=True)
    t0 = time.monotonic()
    with Progress(TextColumn("[bold]eval[/] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task(agent.name, total=len(tasks) * args.attempts)

        def on_result(r):
            mark = "[green]pass[/]" if r.passed else f"[red]{r.score:.2f}[/]"
            progress.console.print(f"  {r.task} #{r.attempt}: {mark} ({r.wall_s:.1f}s){' ' + r.error if r.error else ''}")
            progress.advance(bar)

        results = run_suite(tasks, agent, attempts=args.attempts, jobs=args.jobs,
                            keep_dir=out / "submissions" if args.keep_submissions else None, on_result=on_result)
    summary = summarize(results, args.attempts, agent.name)
    summary["wall_s"] = round(time.monotonic() - t0, 1)
    paths = write_reports(out, results, summary)
    o = summary["overall"]
    print(f"{len(tasks)} tasks x {args.attempts} attempt(s) with agent {agent.name}: mean score {o['score']['mean']:.3f} "
          f"± {o['score']['sd']:.3f}, pass@1 {o['pass@1']:.3f} in {summary['wall_s']}s")
    for kind, g in summary["by_kind"].items():
        print(f"  {kind:<10} {g['tasks']:>3} tasks  score {g['score']['mean']:.3f}  pass@1 {g['pass@1']:.3f}")
    print(sandbox_line(summary["sandbox"]))
    print(f"reports: {paths['summary']}, {paths['markdown']}, {paths['html']}")
    return 0


def _calibrate(args) -> int:
    from rich.console import Console

    from pytorch_patterns.evals.harness import calibrate

    tasks = _load(args)
    if tasks is None:
        return 2
    console = Console(stderr=True)
    t0 = time.monotonic()

    def on_done(cal):
        console.print(f"  {cal.task}: {'[green]ok[/]' if cal.ok else '[red]FAILED[/]'}")
        for name, failed in cal.mutants.items():
            console.print(f"    mutant {name}: fails {', '.join(failed) or 'nothing'}", highlight=False)
        for p in cal.problems:
            console.print(f"    {p}")

    cals = calibrate(tasks, jobs=args.jobs, on_done=on_done)
    bad = [c for c in cals if not c.ok]
    n_mut = sum(len(c.mutants) for c in cals)
    proven: dict[str, int] = {}  # check -> mutants that fail it (each a wrong solution the check is shown to catch)
    for c in cals:
        for failed in c.mutants.values():
            for name in failed:
                proven[name] = proven.get(name, 0) + 1
    used = sorted({ch.name for t in tasks for ch in t.checks})
    print("checks failed by a mutant: " + ", ".join(f"{n} ({proven[n]})" for n in used if n in proven))
    unproven = [n for n in used if n not in proven]
    if unproven:
        print("checks no mutant fails: " + ", ".join(unproven))
    print(f"calibration: {len(cals) - len(bad)}/{len(cals)} tasks ok ({n_mut} mutants) in {time.monotonic() - t0:.0f}s")
    return 1 if bad else 0


def _compare(args) -> int:
    from pytorch_patterns.evals.report import compare_runs, load_results

    try:
        result = compare_runs(load_results(args.run_a), load_results(args.run_b))
    except (OSError, ValueError) as exc:
        print(f"pytorch-patterns: error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['tasks']} tasks in common: A {result['mean_a']:.3f}, B {result['mean_b']:.3f}, "
              f"B - A = {result['delta']:+.3f} (95% CI {result['ci95'][0]:+.3f} .. {result['ci95'][1]:+.3f}); "
              f"B better on {result['b_better']}, A better on {result['a_better']}, ties {result['ties']}")
    return 0


def _list(args) -> int:
    tasks = _load(args)
    if tasks is None:
        return 2
    for t in tasks:
        print(f"{t.id:<36} {t.kind:<9} {','.join(t.families):<28} {t.title}")
    return 0


def _export(args) -> int:
    from pytorch_patterns.evals.report import export_evals_json

    tasks = _load(args)
    if tasks is None:
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(export_evals_json(tasks), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({len(tasks)} evals)")
    return 0
