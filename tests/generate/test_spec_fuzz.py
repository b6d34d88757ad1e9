"""Random option combinations: each either fails validation with a field-named message, or generates a
program that parses and passes the reviewer."""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pytorch_patterns.skill.generate import generate_train_loop, spec_error_message
from pytorch_patterns.skill.review import review_source

specs = st.fixed_dictionaries(
    {
        "task": st.sampled_from(
            ["classification", "regression", "language_modelling", "sequence_classification", "segmentation"]
        ),
        "amp": st.sampled_from(["none", "bf16", "fp16"]),
        "ddp": st.booleans(),
        "compile": st.booleans(),
        "grad_accum_steps": st.integers(1, 4),
        "clip_grad_norm": st.one_of(st.none(), st.floats(0.1, 5.0)),
        "ema_decay": st.one_of(st.none(), st.sampled_from([0.9, 0.999])),
        "early_stopping_patience": st.one_of(st.none(), st.integers(1, 5)),
        "eval_interval": st.one_of(st.none(), st.integers(1, 50)),
        "optimizer": st.fixed_dictionaries({"name": st.sampled_from(["adamw", "adam", "sgd"])}),
        "scheduler": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["cosine", "linear", "onecycle", "constant", "none"]),
                "warmup_ratio": st.sampled_from([0.0, 0.1]),
            }
        ),
        "model": st.fixed_dictionaries({"batch_norm": st.sampled_from([None, True, False])}),
        "checkpoint": st.fixed_dictionaries(
            {
                "every_steps": st.one_of(st.none(), st.integers(1, 100)),
                "atomic": st.booleans(),
                "save_best": st.booleans(),
            }
        ),
        "data": st.fixed_dictionaries(
            {
                # None (the task's usual source) and plain options are likelier, so most specs are valid.
                "source": st.sampled_from(
                    [None, None, None, "image_folder", "csv", "token_sequences", "tensors", "file_list"]
                ),
                "variable_length": st.sampled_from([False, False, True]),
                "bucketing": st.sampled_from([False, False, False, True]),
                "val_fraction": st.sampled_from([0.0, 0.1]),
                "transforms": st.sampled_from([[], [], [], ["standardize"], ["horizontal_flip"], ["normalize"]]),
                "loader": st.fixed_dictionaries(
                    {
                        "num_workers": st.sampled_from([None, 0, 2]),
                        "drop_last": st.sampled_from([None, True, False]),
                    }
                ),
            }
        ),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_random_specs_are_rejected_clearly_or_generate_clean_code(spec):
    try:
        result = generate_train_loop(spec)
    except ValidationError as exc:
        message = spec_error_message(exc)
        field = message.split(":", 1)[0]
        assert field and " " not in field and "Fix:" in message, message
        return
    ast.parse(result.code)
    findings = review_source(result.code, filename="train.py")
    assert not findings, [f"{f.line} {f.rule} {f.message}" for f in findings]
