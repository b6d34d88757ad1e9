"""The reference programs' data path: batch fetching, the (seed, epoch) sampler, resume at the sampler, and the
choices they share with the generator (decay groups, evaluation under autocast, clipping defaults)."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from pytorch_patterns.reference_impls import common, registry
from pytorch_patterns.reference_impls.common import (
    EpochBatchSampler,
    InMemoryDataset,
    LoaderCursor,
    keep_batch,
)
from pytorch_patterns.skill.generate.choices import CHOICES, split_decay

REPO = Path(__file__).resolve().parents[2]


class CountingDataset(InMemoryDataset):
    def __init__(self, *tensors: torch.Tensor) -> None:
        super().__init__(*tensors)
        self.fetched: list[list[int]] = []

    def __getitems__(self, indices):
        self.fetched.append(list(indices))
        return super().__getitems__(indices)


def _loader(dataset, *, seed=0, batch_size=4, drop_last=False):
    sampler = EpochBatchSampler(len(dataset), batch_size, seed=seed, shuffle=True, drop_last=drop_last)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=keep_batch,
                      generator=torch.Generator().manual_seed(seed))


def test_batched_fetch_matches_the_per_item_loader_and_needs_the_pass_through_collate():
    x, y = torch.randn(10, 3), torch.arange(10)
    dataset = InMemoryDataset(x, y)
    batched = list(DataLoader(dataset, batch_size=4, collate_fn=keep_batch))
    per_item = list(DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4))
    assert len(batched) == len(per_item) == 3
    for (bx, by), (px, py) in zip(batched, per_item):
        assert torch.equal(bx, px) and torch.equal(by, py)
    # The default collate takes the (x, y) batch tuple for a list of two samples and stacks x with y.
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        list(DataLoader(dataset, batch_size=4))


def test_order_is_a_function_of_seed_and_epoch_and_covers_every_sample():
    sampler = EpochBatchSampler(10, 4, seed=3, shuffle=True, drop_last=False)
    epoch0 = list(sampler)
    assert sorted(i for b in epoch0 for i in b) == list(range(10)) and [len(b) for b in epoch0] == [4, 4, 2]
    assert list(sampler) == epoch0  # iterating again: the same order (no hidden RNG consumption)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    assert list(EpochBatchSampler(10, 4, seed=3, shuffle=True, drop_last=True)) == epoch0[:2]
    assert next(iter(EpochBatchSampler(10, 4, seed=0, shuffle=False, drop_last=False))) == [0, 1, 2, 3]
    loader = _loader(InMemoryDataset(torch.randn(10, 2)))
    before = torch.get_rng_state()
    list(loader)
    assert torch.equal(torch.get_rng_state(), before)  # the loader never draws from the global RNG


def test_resume_skips_consumed_batches_at_the_sampler_without_fetching_them():
    x = torch.arange(22.0)[:, None]
    straight = LoaderCursor(_loader(InMemoryDataset(x)))
    expected = [straight.next_batch()[0] for _ in range(9)]  # 6 batches/epoch: epoch 1, three batches in
    stopped = LoaderCursor(_loader(InMemoryDataset(x)))
    for _ in range(5):
        stopped.next_batch()
    state = stopped.state_dict()
    assert state == {"epoch": 0, "position": 5}

    dataset = CountingDataset(x)
    resumed = LoaderCursor(_loader(dataset))
    resumed.load_state_dict(state)
    rest = [resumed.next_batch()[0] for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(rest, expected[5:]))
    assert len(dataset.fetched) == 4  # the 5 consumed batches were never fetched again
    assert resumed.state_dict() == {"epoch": 1, "position": 3}


def _module(name):
    return importlib.import_module(registry.get_impl(name).module)


TINY_MODELS = {
    "mlp_tabular": {}, "cnn_image": {"width": 4}, "char_lm": {"n_layer": 1, "n_embd": 16, "n_head": 2},
    "seq_classify": {"hidden": 8, "embed_dim": 4}, "regression_warmup": {"hidden": 8}, "autoencoder": {"hidden": 8},
    "finetune_frozen": {"width": 4}, "mixed_precision": {"hidden": 16, "amp": "none"}, "ddp_cpu": {"hidden": 8},
    "compiled_mlp": {"hidden": 16},
}


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_optimizer_groups_follow_the_shared_weight_decay_exclusions(name):
    mod = _module(name)
    cfg = mod.Config(**TINY_MODELS[name])
    torch.manual_seed(0)
    model = mod.build_model(cfg)
    optimizer = mod.build_optimizer(cfg, model)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    decay, no_decay = split_decay(model)
    assert set(decay_of) == {id(p) for _, p in decay + no_decay}  # every trainable parameter, frozen ones out
    assert all(decay_of[id(p)] == 0.0 for _, p in no_decay), "a bias, norm or embedding parameter is decayed"
    decayed = {decay_of[id(p)] for _, p in decay}
    assert decayed == {getattr(cfg, "weight_decay", 0.0)}  # one rate for weight matrices (0 where none is set)
    assert cfg.grad_clip == CHOICES.grad_clip_norm  # clipping default shared with the generator


@pytest.mark.parametrize("name", sorted(set(TINY_MODELS) - {"ddp_cpu"}))
def test_evaluation_runs_under_the_training_autocast(name):
    """CHOICES.eval_autocast: evaluate() uses the run's precision (bf16 here: outputs of bf16 matmuls)."""
    mod = _module(name)
    small = {"n_val": 16} if "n_val" in mod.Config.model_fields else {}
    if name == "regression_warmup":
        small["n_test"] = 16
    cfg = mod.Config(**{**TINY_MODELS[name], **small, "amp": "bf16"})
    data = mod.build_data(cfg)
    torch.manual_seed(0)
    model = mod.build_model(cfg, len(data.vocab)) if name == "char_lm" else mod.build_model(cfg)
    dtypes = set()
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            module.register_forward_hook(lambda m, i, out: dtypes.add(out.dtype))
    metric = mod.evaluate(model, data, cfg, torch.device("cpu"))
    assert math.isfinite(metric) and torch.bfloat16 in dtypes  # a real number, computed under bf16 autocast
    assert CHOICES.eval_autocast


def test_common_autocast_is_off_for_none():
    with common.autocast(torch.device("cpu"), "none"):
        assert not torch.is_autocast_enabled("cpu")
    with common.autocast(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(os.environ.get("PP_SLOW") != "1", reason="two torchrun processes: PP_SLOW=1")
def test_ddp_program_runs_under_torchrun(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "pytorch_patterns.reference_impls.impls.ddp_cpu"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"device": "cpu x2"' in proc.stdout and "step 60/60 loss" in proc.stdout
