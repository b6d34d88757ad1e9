"""The generated programs make the choices of the shared table (skill/generate/choices.py), as reference_impls do."""

from __future__ import annotations

import argparse
import importlib.util

import pytest
import torch

from pytorch_patterns.skill.generate import generate_train_loop
from pytorch_patterns.skill.generate.choices import CHOICES, split_decay


def _load(tmp_path, spec: dict):
    path = tmp_path / "train.py"
    path.write_text(generate_train_loop(spec).code)
    module_spec = importlib.util.spec_from_file_location(f"generated_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)  # defines the program; main() is not run
    return module, path.read_text()


@pytest.mark.parametrize(
    ("spec", "ctor"),
    [
        (
            {"task": "language_modelling"},
            "CausalTransformer(VOCAB_SIZE, SEQ_LEN, HIDDEN_DIM, NUM_LAYERS, NUM_HEADS, DROPOUT)",
        ),
        (
            {"task": "sequence_classification"},
            "SequenceClassifier(VOCAB_SIZE, SEQ_LEN, HIDDEN_DIM, NUM_LAYERS, NUM_HEADS, DROPOUT, NUM_CLASSES)",
        ),
        ({"model": {"batch_norm": True}}, "MLP(INPUT_DIM, HIDDEN_DIM, NUM_CLASSES, NUM_LAYERS, DROPOUT)"),
        ({"data": {"source": "image_folder"}}, "ConvNet(IN_CHANNELS, NUM_CLASSES, BASE_CHANNELS, NUM_LAYERS, DROPOUT)"),
    ],
    ids=["lm", "seqcls", "mlp_bn", "convnet"],
)
def test_weight_decay_groups_match_the_shared_table(tmp_path, spec, ctor):
    module, code = _load(tmp_path, spec)
    assert f"model = {ctor}.to(device)" in code
    model = eval(ctor, vars(module))  # noqa: S307 - the generated program's own constructor call
    args = argparse.Namespace(lr=1e-3, weight_decay=0.1)
    optimizer = module.build_optimizer(model, args, torch.device("cpu"))
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    kept = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    decay, no_decay = split_decay(model)
    assert decayed == {id(p) for _, p in decay}
    assert kept == {id(p) for _, p in no_decay}
    if "embedding" in CHOICES.weight_decay_excludes and hasattr(model, "token_embedding"):
        assert id(model.token_embedding.weight) in kept


def test_evaluation_mode_and_autocast_follow_the_table():
    amp = generate_train_loop({"amp": "bf16"}).code
    plain = generate_train_loop({}).code
    evaluate = amp.split("def evaluate(", 1)[1].split("\ndef ", 1)[0]
    assert f"@torch.{CHOICES.eval_grad_mode}()" in amp.split("def evaluate(", 1)[0].rsplit("\n", 3)[-2]
    assert ("torch.autocast" in evaluate) == CHOICES.eval_autocast
    assert "outputs.float()" in evaluate  # loss sums in fp32 (CHOICES.loss_in_fp32)
    assert "torch.autocast" not in plain
    assert ("DROP_LAST = True" in generate_train_loop({"compile": True}).code) == (
        "static_shapes" in CHOICES.drop_last_train_when
    )


def test_bf16_programs_check_for_native_bf16():
    """CHOICES.bf16_only_if_native: torch.cuda.is_bf16_supported() counts emulation unless told not to."""
    code = generate_train_loop({"amp": "bf16"}).code
    assert CHOICES.bf16_only_if_native and "is_bf16_supported(including_emulation=False)" in code
    assert "is_bf16_supported" not in generate_train_loop({"amp": "fp16"}).code
