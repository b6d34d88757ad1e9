"""`pytorch-patterns doctor SCRIPT [-- ARGS...]`: run a training script for a few steps under probes.

Exit codes: 0 no findings, 1 findings, 2 bad input (no such script, no optimizer step in time, a crash (before the
first step, or after some: the report of the steps it made is printed first), a script that needs a GPU on a
machine without one, bad options).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=20, help="stop after N optimizer steps (default 20)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S", help="wall-clock limit per run (s)")
    p.add_argument("--memory-mb", type=int, default=8192, help="cap on the script's resident memory (MB)")
    p.add_argument("--device", help="sets CUDA_VISIBLE_DEVICES only: cpu, cuda, cuda:N or N (the script picks "
                                    "its device itself)")
    p.add_argument("--cwd", help="working directory for the script (default: its folder)")
    p.add_argument("--profile", action="store_true", help="torch.profiler's top operators (and CUDA memory)")
    p.add_argument("--check-determinism", action="store_true", help="run twice and compare losses and weights")
    p.add_argument("--resume-args", metavar="'ARGS'", help="arguments that make the script resume: run N steps, "
                   "run N/2, resume with these arguments for N/2 and compare (write --resume-args='--resume' "
                   "when they start with a dash)")
    p.add_argument("--isolate", action="store_true", help="read-only filesystem except a scratch folder")
    p.add_argument("--nproc", type=int, default=1, help="run under torchrun with N processes (gloo on CPU)")
    p.add_argument("--threads", type=int, help="torch threads in the child (set before the script runs)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="run a training script for a few steps and report the silent bugs "
                                      "(`doctor train.py -- --epochs 2`)",
                       description="Run SCRIPT under runtime probes for --steps optimizer steps and report "
                                   "PT-RUN findings (see `pytorch-patterns rules PT-RUN`).")
    p.add_argument("script", help="the training script")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script, after --")
    _add_options(p)
    p.add_argument("--format", choices=["text", "json", "html"], default="text")
    p.add_argument("-o", "--output-dir", metavar="DIR", help="also write doctor.json and doctor.html there")
    p.set_defaults(func=run)


def options_from_argv(argv: list[str]):
    """DoctorOptions from doctor flags (the `# doctor-options:` header of the test scripts uses this)."""
    parser = argparse.ArgumentParser(prog="doctor-options", add_help=False)
    _add_options(parser)
    return _options(parser.parse_args(join_resume_args(argv)))


def join_resume_args(argv: list[str]) -> list[str]:
    """`--resume-args --resume` -> `--resume-args=--resume` (argparse takes a value starting with '-' for an option)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--resume-args" and i + 1 < len(argv):
            out.append(f"--resume-args={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _options(args: argparse.Namespace):
    from pytorch_patterns.reference_impls.doctor import DoctorOptions

    return DoctorOptions(
        steps=args.steps, timeout_s=args.timeout, memory_mb=args.memory_mb, device=args.device, cwd=args.cwd,
        profile=args.profile, check_determinism=args.check_determinism,
        resume_args=shlex.split(args.resume_args) if args.resume_args is not None else None,
        isolate=args.isolate, nproc=args.nproc, threads=args.threads)


def _fail(message: str) -> int:
    print(f"pytorch-patterns doctor: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from pytorch_patterns.reference_impls.doctor import diagnose
    from pytorch_patterns.reference_impls.doctor.report import render_html, render_json, render_text

    # argparse hands everything after SCRIPT to script_args: doctor options come before `--`, the script's after
    rest = list(args.script_args)
    split = rest.index("--") if "--" in rest else len(rest)
    late, script_args = rest[:split], rest[split + 1:]
    if late:
        parser = argparse.ArgumentParser(prog="pytorch-patterns doctor SCRIPT", add_help=False)
        _add_options(parser)
        parser.add_argument("--format", choices=["text", "json", "html"])
        parser.add_argument("-o", "--output-dir")
        defaults = {a.dest: a.default for a in parser._actions}
        parsed = parser.parse_args(join_resume_args(late))
        for key, value in vars(parsed).items():
            if value != defaults.get(key):
                setattr(args, key, value)
    if not Path(args.script).is_file():
        return _fail(f"{args.script}: no such file")
    if args.output_dir and Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        return _fail(f"-o {args.output_dir}: not a folder")
    try:
        options = _options(args)
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": ["?"], "msg": str(exc)}
        return _fail(f"bad option {'.'.join(str(x) for x in first['loc'])}: {first['msg']}")
    progress = None
    if args.format == "text" and sys.stderr.isatty():
        def progress(done, total, message):
            print(f"\r\033[K{message}", end="", file=sys.stderr, flush=True)
    report = diagnose(args.script, script_args, options, progress=progress)
    if progress is not None:
        print("\r\033[K", end="", file=sys.stderr)
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "doctor.json").write_text(render_json(report), encoding="utf-8")
        (out / "doctor.html").write_text(render_html(report), encoding="utf-8")
    if report.error_kind is not None and not report.ok:
        if args.format == "json":
            print(render_json(report))
        message = report.error or report.error_kind
        if report.output_tail and report.error_kind in ("crash", "needs-gpu"):
            tail = "\n".join(report.output_tail.strip().splitlines()[-8:])
            message += "\n" + tail
        return _fail(message)
    if args.format == "json":
        print(render_json(report))
    elif args.format == "html":
        print(render_html(report))
    else:
        render_text(report, file=sys.stdout)
    if report.error_kind == "crash":  # crashed after some steps: the findings so far, then the crash, exit 2
        tail = "\n".join((report.output_tail or "").strip().splitlines()[-8:])
        return _fail(f"{report.error}\n{tail}" if tail else str(report.error))
    return 1 if report.findings else 0
