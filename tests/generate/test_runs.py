"""Generated programs really train: loss goes down, same seed repeats bit-for-bit, stop+resume is exact.

The default suite runs a representative sample; PP_SLOW=1 runs the whole matrix (and every DDP variant
under torchrun). Runs use --synthetic-data on CPU with one thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytorch_patterns.skill.generate import generate_checkpoint, generate_dataset, generate_train_loop
from pytorch_patterns.skill.generate.matrix import spec_matrix

from .conftest import SLOW, check_run_result, run_driver

MATRIX = dict(spec_matrix())
SAMPLE = [
    "b00_classification_v00",  # tabular MLP + BatchNorm (drop_last), standardize, AdamW + cosine
    "b05_regression_v11",  # fp16 + GradScaler + clipping + grad accumulation, DDP code run single-process
    "b09_language_modelling_v03",  # causal transformer, SGD, constant LR, early stopping, eval every 5 steps
    "b12_sequence_classification_v09",  # variable length + bucketing, grad accumulation 3
    "b07_regression_v01",  # bf16 autocast, Adam, linear schedule, EMA
    "b14_segmentation_v05",  # fully convolutional, no scheduler, non-atomic checkpoints
]
# Run with --deterministic (torch.use_deterministic_algorithms): no op of theirs may lack a deterministic kernel.
# On CUDA the flag is what makes repeats bitwise (bench/gpu_check.py runs every generated program with it).
DETERMINISTIC_SAMPLE = {"b09_language_modelling_v03", "b14_segmentation_v05"}
DDP_SAMPLE = "b01_classification_v04"  # DDP + grad accumulation (no_sync) + checkpoints every 5 steps


def write_program(tmp_path: Path, name: str) -> Path:
    program = tmp_path / f"{name}.py"
    program.write_text(generate_train_loop(MATRIX[name]).code)
    return program


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_program_trains_repeats_and_resumes(tmp_path, name):
    extra = ["--deterministic"] if name in DETERMINISTIC_SAMPLE else []
    result = run_driver(write_program(tmp_path, name), tmp_path, "--no-compile", *extra)
    check_run_result(name, result)


def torchrun(program: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(program),
        "--synthetic-data",
        "--max-steps",
        "20",
        "--device",
        "cpu",
        "--num-threads",
        "1",
        "--log-interval",
        "1",
        "--output-dir",
        str(out),
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=program.parent, env=env)


def train_losses(out: Path) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records if r["type"] == "train"]


def check_ddp(tmp_path: Path, name: str, resume: bool) -> None:
    program = write_program(tmp_path, name)
    proc = torchrun(program, tmp_path / "straight")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    straight = train_losses(tmp_path / "straight")
    assert [s for s, _ in straight] == list(range(1, 21))
    assert straight[-1][1] < straight[0][1]
    checkpoint_names = sorted(p.name for p in (tmp_path / "straight").glob("ckpt_step*.pt"))
    assert checkpoint_names, "rank 0 wrote no checkpoint"
    if resume:
        assert torchrun(program, tmp_path / "resumed", "--stop-at-step", "10").returncode == 0
        proc = torchrun(program, tmp_path / "resumed", "--resume")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert train_losses(tmp_path / "resumed") == straight


def test_ddp_variant_runs_on_two_cpu_processes(tmp_path):
    check_ddp(tmp_path, DDP_SAMPLE, resume=False)


def test_generated_dataset_and_checkpoint_programs_run(tmp_path):
    dataset = tmp_path / "dataset.py"
    dataset.write_text(generate_dataset({"task": "sequence_classification", "variable_length": True}).code)
    proc = subprocess.run(
        [sys.executable, str(dataset), "--synthetic-data", "--synthetic-size", "256"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "batch: inputs (64, " in proc.stdout and "train: 231 samples" in proc.stdout
    checkpointing = tmp_path / "checkpointing.py"
    checkpointing.write_text(generate_checkpoint({"keep_last_n": 2}).code)
    proc = subprocess.run([sys.executable, str(checkpointing)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "restored exactly" in proc.stdout and "ckpt_step00000004.pt', 'ckpt_step00000005.pt']" in proc.stdout


# ----------------------------------------------------------------------------- full matrix (PP_SLOW=1)
@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="set PP_SLOW=1 to run the full generated-program matrix")
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_full_matrix_program(tmp_path, name):
    result = run_driver(write_program(tmp_path, name), tmp_path)
    check_run_result(name, result)


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="set PP_SLOW=1 to run the full generated-program matrix")
@pytest.mark.parametrize("name", sorted(n for n, s in MATRIX.items() if s.get("ddp")))
def test_full_matrix_ddp_resume(tmp_path, name):
    check_ddp(tmp_path, name, resume=True)


def test_dataset_programs_read_real_files(tmp_path):
    """The non-synthetic paths: a CSV table, a label<TAB>text file and a file list of saved tensors."""
    import torch

    rows = [",".join([f"f{i}" for i in range(4)] + ["label"])]
    rows += [",".join([f"{0.1 * (i + j):.2f}" for j in range(4)] + [str(i % 3)]) for i in range(50)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "text.tsv").write_text("\n".join(f"{i % 2}\t{'ab' * (1 + i % 9)}" for i in range(40)) + "\n")
    (tmp_path / "items").mkdir()
    index = ["image,mask"]
    for i in range(12):
        torch.save(torch.randn(3, 8, 8), tmp_path / "items" / f"x{i}.pt")
        torch.save(torch.randint(0, 2, (8, 8)), tmp_path / "items" / f"m{i}.pt")
        index.append(f"items/x{i}.pt,items/m{i}.pt")
    (tmp_path / "index.csv").write_text("\n".join(index) + "\n")
    cases = [
        ({"input_dim": 4, "num_classes": 3, "transforms": ["standardize"]}, "table.csv", "inputs (45, 4)"),
        (
            {"task": "sequence_classification", "variable_length": True, "seq_len": 16, "num_classes": 2},
            "text.tsv",
            "targets (36,)",
        ),
        (
            {"task": "segmentation", "image_size": 8, "num_classes": 2, "transforms": ["horizontal_flip"]},
            "index.csv",
            "inputs (4, 3, 8, 8)",
        ),  # drop_last (BatchNorm model): 11 samples -> 2 batches of 4
    ]
    for i, (spec, data_file, expected) in enumerate(cases):
        program = tmp_path / f"dataset{i}.py"
        program.write_text(generate_dataset(spec).code)
        proc = subprocess.run(
            [
                sys.executable,
                str(program),
                "--data-path",
                str(tmp_path / data_file),
                "--batch-size",
                str(64 if i < 2 else 4),
                "--num-workers",
                str(2 if i == 2 else 0),
            ],  # file list: real worker processes
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert expected in proc.stdout, proc.stdout
