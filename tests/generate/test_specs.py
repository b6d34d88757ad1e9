"""Spec validation: defaults are valid, contradictions are rejected with the field and the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytorch_patterns.skill.generate import (
    CheckpointSpec,
    DatasetSpec,
    TrainLoopSpec,
    generate_train_loop,
    spec_error_message,
)


def error_text(cls, data: dict) -> str:
    with pytest.raises(ValidationError) as info:
        cls.model_validate(data)
    return spec_error_message(info.value)


def test_defaults_are_valid_and_practical():
    spec = TrainLoopSpec()
    assert spec.optimizer.name == "adamw" and spec.scheduler.name == "cosine"
    assert spec.clip_grad_norm == 1.0 and spec.compile is False and spec.amp == "none"
    assert spec.checkpoint.resumable and spec.checkpoint.weights_only_load
    assert spec.dataset.task == "classification" and spec.dataset.resolved_source == "csv"


@pytest.mark.parametrize(
    ("data", "field", "fix_word"),
    [
        ({"amp": "fp16", "grad_scaler": False}, "grad_scaler", "grad_scaler=true"),
        ({"amp": "bf16", "grad_scaler": True}, "grad_scaler", "amp=fp16"),
        ({"ddp": True, "shard_data_across_ranks": False}, "shard_data_across_ranks", "=true"),
        ({"epochs": None, "max_steps": None}, "epochs", "max_steps"),
        ({"early_stopping_patience": 3, "data": {"val_fraction": 0.0}}, "early_stopping_patience", "val_fraction"),
        ({"data": {"val_fraction": 0.0}}, "checkpoint.save_best", "save_best=false"),
        (
            {"model": {"batch_norm": True}, "data": {"loader": {"drop_last": False}}},
            "data.loader.drop_last",
            "drop_last=true",
        ),
        ({"task": "language_modelling", "data": {"source": "csv"}}, "data.source", "token_sequences"),
        ({"task": "sequence_classification", "model": {"num_heads": 3}}, "model.num_heads", "divides"),
        ({"data": {"bucketing": True}}, "data.bucketing", "variable_length=true"),
        ({"data": {"loader": {"num_workers": 0, "persistent_workers": True}}}, "data.loader.persistent_workers", ">0"),
        ({"scheduler": {"name": "onecycle", "warmup_ratio": 0.0}}, "scheduler.warmup_ratio", "warmup_ratio>0"),
        ({"checkpoint": {"save_optimizer": False}}, "checkpoint.save_optimizer", "resumable=false"),
        ({"data": {"transforms": ["horizontal_flip"]}}, "data.transforms", "standardize"),
        ({"optimizer": {"nam": "sgd"}}, "optimizer.nam", "remove it"),
        ({"amp": "fp32"}, "amp", "'bf16'"),
        ({"task": "regression", "data": {"task": "segmentation"}}, "data.task", "make them equal"),
        (
            {"eval_interval": 5, "data": {"val_fraction": 0.0}, "checkpoint": {"save_best": False}},
            "eval_interval",
            "null",
        ),
    ],
)
def test_contradictions_name_field_and_fix(data, field, fix_word):
    text = error_text(TrainLoopSpec, data)
    assert text.startswith(field + ":"), text
    assert "Fix:" in text and fix_word in text.split("Fix:", 1)[1], text


def test_dataset_and_checkpoint_specs_validate_alone():
    assert "source" in error_text(DatasetSpec, {"task": "segmentation", "source": "image_folder"})
    assert error_text(CheckpointSpec, {"weights_only_load": False}).startswith("weights_only_load:")
    assert CheckpointSpec(resumable=False, save_rng=False).save_rng is False


def test_invalid_spec_generates_nothing():
    with pytest.raises(ValidationError):
        generate_train_loop({"amp": "fp16", "grad_scaler": False})


def test_generated_code_carries_spec_and_rationale():
    result = generate_train_loop({"task": "regression", "amp": "bf16", "ema_decay": 0.99})
    assert result.filename == "train.py"
    assert result.spec["task"] == "regression" and result.spec["data"]["task"] == "regression"
    joined = " ".join(result.rationale)
    assert "bf16" in joined and "EMA" in joined and "weights_only=True" in joined
    # Tailored, not a kitchen sink: no GradScaler without fp16, no DDP without ddp.
    assert "GradScaler" not in result.code and "DistributedDataParallel" not in result.code
    assert "torch.autocast" in result.code and "AveragedModel" in result.code


def test_checkpoint_spec_decides_what_the_train_loop_saves():
    full = generate_train_loop({"amp": "fp16"}).code
    assert '"scaler": scaler.state_dict()' in full and '"rng": [capture_rng_state()]' in full
    partial = generate_train_loop({"checkpoint": {"resumable": False, "save_rng": False, "save_optimizer": False}})
    assert "capture_rng_state()" not in partial.code.split("def main", 1)[1]
    assert '"optimizer": optimizer.state_dict()' not in partial.code
    assert "warm start" in " ".join(partial.rationale)
