"""Speed of a generated training loop against the matching reference implementation.

    .venv/bin/python bench/generator_speed.py [--steps 200] [--repeats 3] [--threads 1] [--matrix]

Generates a classification loop shaped like `reference_impls`' `mlp_tabular` (same MLP widths, batch
size, optimizer, cosine schedule, steps) and feeds it the reference's own data tensors (saved to a
`.pt` file, read by the generated `--data-path` loader), then times both in this process, alternating,
on the same device and thread count, and prints the ratio generated / reference (1.0 = as fast; lower
is faster). Both wall times cover the whole call (data, training, final evaluation); the loop-only
ratio uses the reference's `train_s` and the generated program's logged `ms_per_step`.

`--matrix` also runs every program of the spec matrix for 20 steps (synthetic data, CPU) and reports
whether its loss went down and how long it took.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytorch_patterns.skill.generate import generate_train_loop  # noqa: E402
from pytorch_patterns.skill.generate.matrix import spec_matrix  # noqa: E402

console = Console()


def matching_spec(ref_cfg, steps: int) -> dict:
    """A TrainLoopSpec with the reference MLP's model, data and optimisation settings."""
    return {
        "task": "classification",
        "data": {
            "source": "tensors",
            "input_dim": ref_cfg.n_features,
            "num_classes": ref_cfg.n_classes,
            "synthetic_size": ref_cfg.n_train + ref_cfg.n_val,
            "val_fraction": ref_cfg.n_val / (ref_cfg.n_train + ref_cfg.n_val),
            "loader": {"batch_size": ref_cfg.batch_size},
        },
        "model": {
            "hidden_dim": ref_cfg.hidden,
            "num_layers": 2,
            "dropout": ref_cfg.dropout,
            "batch_norm": False,
            "activation": "relu",
        },
        "optimizer": {"name": "adamw", "lr": ref_cfg.lr, "weight_decay": ref_cfg.weight_decay},
        "scheduler": {"name": "cosine", "warmup_ratio": 0.0, "min_lr_ratio": 0.0},
        "clip_grad_norm": None,  # the reference does not clip
        "epochs": None,
        "max_steps": steps,
        "log_interval": ref_cfg.log_every,
        "eval_interval": steps,  # evaluate once at the end, like the reference
        "checkpoint": {"every_steps": steps, "save_best": False},  # one checkpoint at the end
    }


def load_program(path: Path):
    spec = importlib.util.spec_from_file_location("generated_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_pair(steps: int, repeats: int, threads: int) -> None:
    try:
        from pytorch_patterns.reference_impls import registry
    except ImportError:
        console.print("[yellow]reference_impls.registry is not importable: no reference to compare with[/]")
        return
    import torch

    torch.set_num_threads(threads)
    reference = registry.load_module("mlp_tabular")
    ref_cfg = reference.Config(steps=steps, device="cpu")
    result = generate_train_loop(matching_spec(ref_cfg, steps))
    workdir = Path(tempfile.mkdtemp(prefix="generator_speed_"))
    program_path = workdir / "train.py"
    program_path.write_text(result.code)
    program = load_program(program_path)
    # Same data: the reference's own tensors, read by the generated program's real-data path (source=tensors).
    ref_data = reference.build_data(ref_cfg)
    data_path = workdir / "reference_data.pt"
    torch.save(
        {
            "inputs": torch.cat([ref_data.x_train, ref_data.x_val]),  # (N, F)
            "targets": torch.cat([ref_data.y_train, ref_data.y_val]),  # (N,)
        },
        data_path,
    )

    gen_wall, ref_wall, gen_loop, ref_loop = [], [], [], []
    for repeat in range(repeats + 1):  # the first pair warms up allocators and caches
        start = time.perf_counter()
        ref_result = reference.train(ref_cfg)
        ref_seconds = time.perf_counter() - start

        out = workdir / f"run{repeat}"
        start = time.perf_counter()
        program.main(
            [
                "--data-path",
                str(data_path),
                "--device",
                "cpu",
                "--num-threads",
                str(threads),
                "--output-dir",
                str(out),
                "--seed",
                "0",
            ]
        )
        gen_seconds = time.perf_counter() - start
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        train_records = [r for r in records if r["type"] == "train"]
        loop_seconds = sum(r["ms_per_step"] * ref_cfg.log_every for r in train_records) / 1000
        if repeat == 0:
            continue
        gen_wall.append(gen_seconds)
        ref_wall.append(ref_seconds)
        gen_loop.append(loop_seconds)
        ref_loop.append(ref_result.train_s)

    table = Table(title=f"generated vs reference mlp_tabular ({steps} steps, {threads} thread(s), CPU)")
    for column in ("measure", "reference s", "generated s", "ratio gen/ref"):
        table.add_column(column)
    for label, ref_values, gen_values in (("whole call", ref_wall, gen_wall), ("training loop", ref_loop, gen_loop)):
        ref_median, gen_median = statistics.median(ref_values), statistics.median(gen_values)
        table.add_row(label, f"{ref_median:.3f}", f"{gen_median:.3f}", f"{gen_median / ref_median:.2f}")
    console.print(table)
    final = train_records[-1]["loss"]
    console.print(f"final train loss: reference {ref_result.losses[-1]:.4f}, generated {final:.4f}")
    console.print("The generated loop also writes metrics.jsonl and one full checkpoint (inside 'whole call').")


def run_matrix(limit: int | None = None) -> None:
    table = Table(title="generated program matrix: --synthetic-data --max-steps 20 on CPU")
    for column in ("program", "ok", "first loss", "last loss", "seconds"):
        table.add_column(column)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in spec_matrix()[:limit]:
            path = Path(tmp) / f"{name}.py"
            path.write_text(generate_train_loop(spec).code)
            out = Path(tmp) / f"{name}_out"
            start = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    str(path),
                    "--synthetic-data",
                    "--max-steps",
                    "20",
                    "--device",
                    "cpu",
                    "--log-interval",
                    "1",
                    "--num-threads",
                    "1",
                    "--output-dir",
                    str(out),
                ],
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                failures += 1
                table.add_row(name, "[red]crash[/]", "", "", f"{seconds:.1f}")
                console.print(proc.stderr[-2000:])
                continue
            losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            losses = [r["loss"] for r in losses if r["type"] == "train"]
            went_down = statistics.mean(losses[-5:]) < statistics.mean(losses[:5])
            failures += not went_down
            ok = "[green]yes[/]" if went_down else "[red]loss up[/]"
            table.add_row(name, ok, f"{losses[0]:.4f}", f"{losses[-1]:.4f}", f"{seconds:.1f}")
    console.print(table)
    console.print(f"{failures} failure(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--matrix", action="store_true", help="also run every program of the spec matrix")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N matrix programs")
    args = parser.parse_args()
    time_pair(args.steps, args.repeats, args.threads)
    if args.matrix:
        run_matrix(args.limit)


if __name__ == "__main__":
    main()
