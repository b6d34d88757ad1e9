"""Every spec in the matrix generates code that parses, is formatted, and passes the reviewer."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest

from pytorch_patterns.skill.generate import generate_checkpoint, generate_dataset, generate_train_loop
from pytorch_patterns.skill.generate.matrix import BASES, VARIANTS, spec_matrix
from pytorch_patterns.skill.generate.specs import TrainLoopSpec
from pytorch_patterns.skill.review import review_source

MATRIX = spec_matrix()
DATASET_SPECS = [
    {"task": "classification"},
    {"task": "classification", "source": "image_folder", "transforms": ["resize", "horizontal_flip", "normalize"]},
    {"task": "classification", "source": "file_list", "loader": {"num_workers": 2, "prefetch_factor": 4}},
    {"task": "regression", "source": "tensors", "transforms": ["standardize"]},
    {"task": "language_modelling"},
    {"task": "sequence_classification", "variable_length": True, "bucketing": True},
    {"task": "segmentation", "loader": {"pin_memory": False, "drop_last": True}},
]
CHECKPOINT_SPECS = [{}, {"atomic": False, "keep_last_n": 1}, {"resumable": False, "save_rng": False}]


def test_matrix_is_large_and_exercises_every_option():
    assert len(MATRIX) >= 60
    specs = [TrainLoopSpec.model_validate(spec) for _, spec in MATRIX]
    seen = lambda f: {f(s) for s in specs}  # noqa: E731
    assert seen(lambda s: s.task) == {
        "classification",
        "regression",
        "language_modelling",
        "sequence_classification",
        "segmentation",
    }
    assert seen(lambda s: s.dataset.resolved_source) == {
        "image_folder",
        "csv",
        "token_sequences",
        "tensors",
        "file_list",
    }
    assert seen(lambda s: s.amp) == {"none", "bf16", "fp16"}
    assert seen(lambda s: s.optimizer.name) == {"adamw", "adam", "sgd"}
    assert seen(lambda s: s.scheduler.name) == {"cosine", "linear", "onecycle", "constant", "none"}
    for attr in ("ddp", "compile", "batch_norm"):
        assert seen(lambda s: getattr(s, attr)) == {True, False}, attr
    assert seen(lambda s: s.ema_decay is not None) == {True, False}
    assert seen(lambda s: s.early_stopping_patience is not None) == {True, False}
    assert seen(lambda s: s.clip_grad_norm is not None) == {True, False}
    assert seen(lambda s: s.grad_accum_steps > 1) == {True, False}
    assert seen(lambda s: s.checkpoint.atomic) == {True, False}
    assert seen(lambda s: s.checkpoint.every_steps is not None) == {True, False}
    assert seen(lambda s: s.dataset.variable_length) == {True, False}
    assert seen(lambda s: s.dataset.bucketing) == {True, False}
    assert seen(lambda s: s.max_steps is not None) == {True, False}
    assert seen(lambda s: s.dataset.val_fraction > 0) == {True, False}
    # Every variant is used by some base.
    assert len({name.rsplit("_v", 1)[1] for name, _ in MATRIX}) == len(VARIANTS)
    assert len({name.split("_")[0] for name, _ in MATRIX}) == len(BASES)


def _all_generated():
    for name, spec in MATRIX:
        yield name, generate_train_loop(spec).code
    for i, spec in enumerate(DATASET_SPECS):
        yield f"dataset{i}", generate_dataset(spec).code
    for i, spec in enumerate(CHECKPOINT_SPECS):
        yield f"checkpoint{i}", generate_checkpoint(spec).code


def test_every_generated_program_parses_and_has_zero_findings():
    problems = []
    for name, code in _all_generated():
        ast.parse(code, filename=name)
        for finding in review_source(code, filename=f"{name}.py"):
            problems.append(f"{name}:{finding.line} {finding.rule} {finding.message}")
    assert not problems, "\n".join(problems)


def test_generated_code_does_not_depend_on_the_generator():
    for name, code in _all_generated():
        assert "skill" not in {n.split(".")[0] for n in _imported(code)}, name
        assert ".cuda()" not in code and "'cuda'" not in code, name


def _imported(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.skipif(
    shutil.which("ruff") is None and not shutil.which("ruff", path=sys.prefix + "/bin"), reason="ruff not installed"
)
def test_generated_code_is_formatted(tmp_path):
    for name, code in _all_generated():
        (tmp_path / f"{name}.py").write_text(code)
    ruff = shutil.which("ruff") or shutil.which("ruff", path=sys.prefix + "/bin")
    proc = subprocess.run(
        [ruff, "format", "--line-length", "120", "--check", "--diff", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _ruff() -> str | None:
    return shutil.which("ruff") or shutil.which("ruff", path=sys.prefix + "/bin")


@pytest.mark.skipif(_ruff() is None, reason="ruff not installed")
def test_generated_code_has_no_dead_names(tmp_path):
    """No unused import, argument or variable in any generated program (pyflakes F + flake8-unused-arguments).

    This is what catches leftovers of options that are off: a `world_size` parameter without DDP, a
    `correct` slot in a regression evaluation, an import only another variant needs."""
    for name, code in _all_generated():
        (tmp_path / f"{name}.py").write_text(code)
    proc = subprocess.run(
        [_ruff(), "check", "--isolated", "--select", "F,ARG", "--output-format", "concise", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_default_program_is_short_and_keeps_every_feature():
    """The default classification program reads top to bottom in at most 400 lines (nanoGPT's train.py: 336)."""
    code = generate_train_loop({}).code
    assert len(code.splitlines()) <= 400, len(code.splitlines())
    features = [
        "torch.compile(model)",  # --compile
        "torch.nn.utils.clip_grad_norm_",  # clipping
        "LambdaLR",  # warm-up + cosine schedule
        "set_epoch(epoch, start_batch=batch_in_epoch)",  # exact resume: skip consumed batches at the sampler
        "restore_rng_state(",  # exact resume: RNG streams
        "os.replace(",  # atomic checkpoints
        '"best.pt"',  # best-model export
        "weights_only=True",
        "metrics.jsonl",
        "--deterministic",
    ]
    assert [f for f in features if f not in code] == []
    # No DDP, AMP, EMA or test-split plumbing when the spec does not ask for them.
    for absent in ("world_size", "is_main", "dist.", "autocast", "GradScaler", "AveragedModel", "test_set", "stop_early"):
        assert absent not in code, absent
    # Everything switched on still stays readable (DDP + fp16 + EMA + early stopping + test split + accumulation).
    full = generate_train_loop(
        {
            "ddp": True,
            "amp": "fp16",
            "ema_decay": 0.999,
            "early_stopping_patience": 3,
            "grad_accum_steps": 2,
            "data": {"test_fraction": 0.1},
            "checkpoint": {"every_steps": 100},
        }
    ).code
    assert len(full.splitlines()) <= 500, len(full.splitlines())
