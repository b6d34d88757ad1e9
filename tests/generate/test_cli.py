"""`pytorch-patterns generate`: stdout/-o output, --set parsing, exit 2 on invalid specs, nothing half-written."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

CLI = [sys.executable, "-m", "pytorch_patterns"]


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "generate", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_stdout_and_set_with_json_values():
    proc = run_cli(
        "train-loop",
        "--set",
        "task=regression",
        "--set",
        "optimizer.lr=0.01",
        "--set",
        "clip_grad_norm=null",
        "--set",
        'data.transforms=["standardize"]',
        "--set",
        "ddp=true",
    )
    assert proc.returncode == 0, proc.stderr
    ast.parse(proc.stdout)
    assert "default=0.01" in proc.stdout and "clip_grad_norm_" not in proc.stdout
    assert "DistributedDataParallel" in proc.stdout and "F.mse_loss" in proc.stdout


def test_spec_file_and_output_file(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"task": "sequence_classification", "data": {"variable_length": True}}))
    out = tmp_path / "sub" / "train.py"
    proc = run_cli("train-loop", "--spec", str(spec), "--set", "data.bucketing=true", "-o", str(out), "--rationale")
    assert proc.returncode == 0, proc.stderr
    assert "pad_collate" in out.read_text() and "Bucketing" in proc.stderr
    assert proc.stdout == ""


def test_invalid_spec_exits_2_names_field_and_writes_nothing(tmp_path):
    out = tmp_path / "train.py"
    proc = run_cli("train-loop", "--set", "amp=fp16", "--set", "grad_scaler=false", "-o", str(out))
    assert proc.returncode == 2
    assert "grad_scaler:" in proc.stderr and "Fix:" in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_output_survives_a_failed_generation(tmp_path):
    out = tmp_path / "train.py"
    out.write_text("keep me\n")
    proc = run_cli("dataset", "--set", "task=language_modelling", "--set", "source=csv", "-o", str(out))
    assert proc.returncode == 2 and "source:" in proc.stderr
    assert out.read_text() == "keep me\n"


def test_bad_inputs_are_clear(tmp_path):
    assert "KEY=VALUE" in run_cli("checkpoint", "--set", "keep_last_n").stderr
    missing = run_cli("checkpoint", "--spec", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    (tmp_path / "bad.json").write_text("{oops")
    assert "invalid JSON" in run_cli("checkpoint", "--spec", str(tmp_path / "bad.json")).stderr


def test_show_spec_prints_resolved_defaults():
    proc = run_cli("checkpoint", "--set", "keep_last_n=5", "--show-spec")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["keep_last_n"] == 5
