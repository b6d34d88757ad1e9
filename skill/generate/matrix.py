"""A matrix of train-loop specs that exercises every option (tests and the benchmark run it).

15 task/source bases x 4 rotating option variants = 60 specs. Each variant is valid for every base.
"""

from __future__ import annotations

import copy

BASES: list[dict] = [
    {"task": "classification", "data": {"source": "csv", "transforms": ["standardize"]}, "model": {"batch_norm": True}},
    {"task": "classification", "data": {"source": "tensors"}},
    {
        "task": "classification",
        "data": {
            "source": "image_folder",
            "image_size": 16,
            "transforms": ["random_resized_crop", "horizontal_flip", "normalize"],
        },
    },
    {"task": "classification", "data": {"source": "image_folder", "image_size": 16}, "model": {"batch_norm": False}},
    {"task": "classification", "data": {"source": "file_list", "transforms": ["horizontal_flip"]}},
    {"task": "regression", "data": {"source": "csv", "num_targets": 2}, "model": {"activation": "relu"}},
    {"task": "regression", "data": {"source": "tensors", "transforms": ["standardize"]}, "model": {"batch_norm": True}},
    {"task": "regression", "data": {"source": "file_list"}},
    {"task": "language_modelling", "data": {"source": "token_sequences", "seq_len": 32}, "model": {"hidden_dim": 64}},
    {"task": "language_modelling", "data": {"source": "tensors", "seq_len": 16, "vocab_size": 64}},
    {"task": "sequence_classification", "data": {"seq_len": 32}, "model": {"hidden_dim": 64}},
    {
        "task": "sequence_classification",
        "data": {"seq_len": 48, "variable_length": True},
        "model": {"hidden_dim": 64, "num_heads": 2},
    },
    {
        "task": "sequence_classification",
        "data": {"seq_len": 48, "variable_length": True, "bucketing": True},
        "model": {"hidden_dim": 64, "num_layers": 1},
    },
    {
        "task": "segmentation",
        "data": {
            "source": "file_list",
            "image_size": 16,
            "num_classes": 3,
            "transforms": ["horizontal_flip"],
            "loader": {"num_workers": 2, "persistent_workers": True, "prefetch_factor": 4},
        },
        "model": {"base_channels": 16},
    },
    {"task": "segmentation", "data": {"source": "tensors", "image_size": 16}, "model": {"base_channels": 16}},
]

VARIANTS: list[dict] = [
    {},
    {"amp": "bf16", "optimizer": {"name": "adam"}, "scheduler": {"name": "linear"}, "ema_decay": 0.99},
    {
        "amp": "fp16",
        "grad_accum_steps": 2,
        "clip_grad_norm": None,
        "scheduler": {"name": "onecycle", "warmup_ratio": 0.3},
    },
    {
        "optimizer": {"name": "sgd", "lr": 0.05},
        "scheduler": {"name": "constant"},
        "early_stopping_patience": 2,
        "eval_interval": 5,
    },
    {"ddp": True, "grad_accum_steps": 2, "checkpoint": {"every_steps": 5, "keep_last_n": 2}},
    {"scheduler": {"name": "none"}, "model": {"dropout": 0.0}, "log_interval": 1, "checkpoint": {"atomic": False}},
    {"data": {"val_fraction": 0.0}, "checkpoint": {"save_best": False}, "epochs": None, "max_steps": 30},
    {"compile": True, "data": {"test_fraction": 0.1}},
    {"amp": "bf16", "ddp": True, "ema_decay": 0.999, "eval_interval": 10},
    {"data": {"loader": {"batch_size": 32}}, "grad_accum_steps": 3, "optimizer": {"weight_decay": 0.0}},
    {
        "early_stopping_patience": 1,
        "checkpoint": {"every_steps": 7},
        "scheduler": {"min_lr_ratio": 0.0},
        "optimizer": {"name": "adam"},
    },
    {"amp": "fp16", "ddp": True, "clip_grad_norm": 0.5, "grad_accum_steps": 2, "device": "cpu"},
]


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def spec_matrix(variants_per_base: int = 4) -> list[tuple[str, dict]]:
    """[(name, spec dict)], every option exercised; names are stable (base index, variant index)."""
    specs = []
    for i, base in enumerate(BASES):
        for j in range(variants_per_base):
            k = (i + 3 * j) % len(VARIANTS)
            specs.append((f"b{i:02d}_{base['task']}_v{k:02d}", _merge(base, VARIANTS[k])))
    return specs
