"""Child-process driver: run one generated program several ways and report its losses as JSON.

    python drive.py PROGRAM.py WORKDIR [extra args...]

Runs, in this one process (torch imported once): a straight run to 20 steps, a repeat with the same
seed, and a run stopped at step 10 then resumed to 20. Prints {"straight": [...], "repeat": [...],
"resumed": [...], "eval": [...]} where each list holds the logged train losses in step order.
Runs use --synthetic-data unless the extra args name a --data-path.

torchvision's wheel on PyPI is built against the CUDA torch; with the CPU torch its C++ operators fail
to register on import. Its datasets and transforms are pure Python, so a generated program that imports
torchvision runs here once torchvision._meta_registrations (operator registration only) is pre-set.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

if importlib.util.find_spec("torchvision") is not None:
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


def losses(output_dir: Path) -> tuple[list, list]:
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    train = [(r["step"], r["loss"]) for r in records if r["type"] == "train"]
    evals = [(r["step"], r["val_loss"]) for r in records if r["type"] == "eval"]
    return train, evals


def main() -> None:
    program, workdir, *extra = sys.argv[1:]
    spec = importlib.util.spec_from_file_location("generated_program", program)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    workdir = Path(workdir)
    common = ["--max-steps", "20", "--log-interval", "1", "--num-threads", "1", *extra]
    if "--data-path" not in extra:
        common.insert(0, "--synthetic-data")
    result = {}
    for name, runs in {
        "straight": [[]],
        "repeat": [[]],
        "resumed": [["--stop-at-step", "10"], ["--resume"]],
    }.items():
        out = workdir / name
        shutil.rmtree(out, ignore_errors=True)
        for run_args in runs:
            module.main([*common, "--output-dir", str(out), *run_args])
        result[name], result[name + "_eval"] = losses(out)
        result[name + "_files"] = sorted(p.name for p in out.iterdir())
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
