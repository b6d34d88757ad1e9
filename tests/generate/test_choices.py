"""skill/generate/choices.py: the shared table is torch-free, and its helpers are right on real torch modules."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from pytorch_patterns.skill.generate import choices
from pytorch_patterns.skill.generate.choices import CHOICES, param_groups, split_decay


def test_the_table_imports_without_torch():
    code = ("import sys; import pytorch_patterns.skill.generate.choices as c; "
            "assert 'torch' not in sys.modules, 'choices imported torch'; print(len(c.CHOICES.table()))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(CHOICES.names()) >= 10


def test_every_choice_has_a_reason():
    for name, value, why in CHOICES.table():
        assert why and why.endswith("."), name
    with pytest.raises(KeyError, match="known: weight_decay_excludes"):
        CHOICES.why("nope")


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(11, 8)
        self.bag = nn.EmbeddingBag(5, 8)
        self.ln = nn.LayerNorm(8)
        self.rms = nn.RMSNorm(8)
        self.conv = nn.Conv1d(8, 8, 3, bias=False)
        self.bn = nn.BatchNorm1d(8)
        self.gn = nn.GroupNorm(2, 8)
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 11, bias=False)
        self.head.weight = self.tok.weight  # tied: one parameter, owned by an Embedding
        self.temperature = nn.Parameter(torch.ones(()))  # a 0-D scalar
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)


def test_decay_only_on_weight_matrices_and_each_parameter_once():
    model = TinyLM()
    decay, no_decay = split_decay(model)
    assert [n for n, _ in decay] == ["conv.weight", "fc.weight"]
    assert {n for n, _ in no_decay} == {"tok.weight", "bag.weight", "ln.weight", "ln.bias", "rms.weight",
                                        "bn.weight", "bn.bias", "gn.weight", "gn.bias", "fc.bias", "temperature"}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    ids = [id(p) for _, p in decay + no_decay]
    assert len(ids) == len(set(ids)) and set(ids) == trainable  # tied weight once, frozen ones left out


def test_param_groups_feed_an_optimizer_and_compose_per_part():
    model = TinyLM()
    groups = param_groups(model.fc, 0.1, lr=1e-2) + param_groups(model.ln, 0.1, lr=1e-3)
    assert [(len(g["params"]), g["weight_decay"], g["lr"]) for g in groups] == [(1, 0.1, 1e-2), (1, 0.0, 1e-2),
                                                                                 (2, 0.0, 1e-3)]
    opt = torch.optim.AdamW(groups, lr=3e-4)
    before = model.ln.weight.detach().clone()
    model.ln.weight.grad = torch.zeros_like(model.ln.weight)
    opt.step()
    assert torch.equal(model.ln.weight, before)  # zero gradient and no decay: untouched
    assert param_groups(nn.ReLU(), 0.1) == []


def test_loader_helpers():
    assert choices.pin_memory("cuda") and not choices.pin_memory("cpu") and not choices.pin_memory("mps")
    assert choices.num_workers(in_memory=True, cpu_count=16) == 0
    assert choices.num_workers(in_memory=False, cpu_count=16) == 8
    assert choices.num_workers(in_memory=False, cpu_count=None) == 1
    assert choices.train_drop_last(batch_norm=True) and choices.train_drop_last(static_shapes=True)
    assert not choices.train_drop_last()
    assert choices.use_grad_scaler("fp16") and not choices.use_grad_scaler("bf16")
