"""The runnable doctor scripts and their headers (`# doctor-expect:`, `# doctor-args:`, `# doctor-options:`).

    python tests/doctor/suite.py [PATTERN]   # runs the matching scripts through the doctor, prints got vs expected
"""

from __future__ import annotations

import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
FOLDERS = [HERE / "scripts", HERE / "core_scripts"]


@dataclass
class Case:
    path: Path
    expect: set[str] = field(default_factory=set)  # empty: clean
    args: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    bug: str = ""
    known_miss: str = ""  # `# doctor-known-miss: why`: a bug the doctor does not catch yet (the test xfails, strict)


def parse(path: Path) -> Case:
    case = Case(path)
    for line in path.read_text(encoding="utf-8").splitlines()[:12]:
        if not line.startswith("# doctor-"):
            continue
        key, _, value = line[len("# doctor-"):].partition(":")
        value = value.strip()
        if key == "expect":
            case.expect = set() if value == "clean" else {c.strip() for c in value.split(",") if c.strip()}
        elif key == "args":
            case.args = shlex.split(value)
        elif key == "options":
            case.options = shlex.split(value)
        elif key == "bug":
            case.bug = value
        elif key == "known-miss":
            case.known_miss = value
    return case


def cases(pattern: str = "*") -> list[Case]:
    out = []
    for folder in FOLDERS:
        out.extend(parse(p) for p in sorted(folder.glob(f"{pattern}.py")) if not p.name.startswith("_"))
    return out


def options_for(case: Case, default_steps: int = 20):
    """DoctorOptions from the case's `doctor-options` header (the CLI's flags), one torch thread."""
    from pytorch_patterns.cmd_doctor import options_from_argv

    opts = options_from_argv(case.options)
    if "--steps" not in case.options:
        opts.steps = default_steps
    opts.threads = 1
    return opts


def run_case(case: Case):
    from pytorch_patterns.reference_impls.doctor import diagnose

    return diagnose(case.path, case.args, options_for(case))


def main(argv: list[str]) -> int:
    chosen = cases(argv[0] if argv else "*")
    bad = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for case, report in zip(chosen, pool.map(run_case, chosen), strict=True):
            got = {f.rule for f in report.findings}
            ok = got == case.expect and report.ok
            bad += not ok and not case.known_miss
            tag = "ok " if ok else "MISS" if case.known_miss else "BAD"
            print(f"{tag} {case.path.name}: expect {sorted(case.expect) or 'clean'} got "
                  f"{sorted(got) or 'clean'}{'' if report.ok else ' ERROR ' + str(report.error)} ({report.wall_s:.1f}s)")
            if not ok:
                for f in report.findings:
                    print(f"      {f.rule} line {f.line} step {f.step}: {f.message[:150]}")
    print(f"{len(chosen) - bad}/{len(chosen)} as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main(sys.argv[1:]))
