"""`pytorch-patterns generate train-loop|dataset|checkpoint [--spec FILE.json] [--set key=value ...]`.

Writes the generated program to stdout or, atomically and only after generation succeeded, to `-o FILE`.
Invalid specs exit with status 2 and a message naming the field and the fix. No torch import.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

KINDS = ("train-loop", "dataset", "checkpoint")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a training loop, dataset/loader module or checkpoint helpers from a spec",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--spec", metavar="FILE.json", help="spec as JSON (fields of TrainLoopSpec/DatasetSpec/...)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field; dotted keys for nested fields (optimizer.lr=1e-3); values parse as JSON when possible",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--rationale", action="store_true", help="print the choices made (to stderr)")
    parser.add_argument("--show-spec", action="store_true", help="print the resolved spec as JSON and exit")
    parser.set_defaults(func=run)


def parse_value(text: str):
    """JSON when it parses (numbers, true/false/null, lists, objects), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_override(spec: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise ValueError(f"--set {assignment!r}: expected KEY=VALUE (e.g. optimizer.lr=1e-3)")
    key, raw = assignment.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ValueError(f"--set {assignment!r}: empty key")
    node = spec
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ValueError(f"--set {assignment!r}: {part!r} is not a nested field")
        node = child
    node[parts[-1]] = parse_value(raw)


def load_spec(args) -> dict:
    spec: dict = {}
    if args.spec:
        path = Path(args.spec)
        try:
            spec = json.loads(path.read_text())
        except OSError as exc:
            raise ValueError(f"--spec {path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"--spec {path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        if not isinstance(spec, dict):
            raise ValueError(f"--spec {path}: expected a JSON object of spec fields")
    for assignment in args.overrides:
        apply_override(spec, assignment)
    return spec


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a generated program is an ordinary file (0644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args) -> int:
    from pydantic import ValidationError

    from pytorch_patterns.skill.generate import SpecError, generate, parse_spec, spec_error_message

    try:
        raw = load_spec(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        spec = parse_spec(args.kind, raw)
    except (ValidationError, SpecError) as exc:
        print(f"invalid {args.kind} spec:\n{spec_error_message(exc)}", file=sys.stderr)
        return 2
    if args.show_spec:
        print(json.dumps(spec.model_dump(mode="json"), indent=2))
        return 0
    result = generate(args.kind, spec)
    if args.output:
        write_atomic(Path(args.output), result.code)
        print(f"wrote {args.output} ({len(result.code.splitlines())} lines)", file=sys.stderr)
    else:
        sys.stdout.write(result.code)
    if args.rationale:
        for line in result.rationale:
            print(f"- {line}", file=sys.stderr)
    return 0
