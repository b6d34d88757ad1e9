"""The PT-IO002 autofix: add `weights_only=True` to torch.load calls (unsafe: only with unsafe=True)."""

from __future__ import annotations

import ast

import torch

from pytorch_patterns.skill.review import fix_source, review_source

SOURCE = '''import torch
import torch as T

ckpt = torch.load("ckpt.pt")
state = T.load(
    "model.pt",
    map_location="cpu",  # keep the comment
)
nested = torch.load(("paths.pt"))
ok = torch.load("w.pt", weights_only=False)
'''


def test_weights_only_fix_is_unsafe_and_idempotent() -> None:
    unchanged, n_safe, _ = fix_source(SOURCE, select=["PT-IO002"])
    assert unchanged == SOURCE and n_safe == 0  # unsafe fixes need opting in

    fixed, n, remaining = fix_source(SOURCE, unsafe=True, select=["PT-IO002"])
    ast.parse(fixed)
    assert n == 2
    assert 'ckpt = torch.load("ckpt.pt", weights_only=True)' in fixed
    assert '    map_location="cpu", weights_only=True,  # keep the comment\n' in fixed
    assert 'torch.load("w.pt", weights_only=False)' in fixed  # an explicit choice is left alone
    # the parenthesised argument gets no fix (appending inside its parentheses would change it)
    assert [(f.line, f.fix) for f in remaining] == [(9, None)]

    again, n_again, _ = fix_source(fixed, unsafe=True, select=["PT-IO002"])
    assert again == fixed and n_again == 0


def test_fixed_load_reads_a_state_dict(tmp_path) -> None:
    """The fixed call really loads a state_dict checkpoint (weights_only=True accepts tensors and dicts)."""
    path = tmp_path / "ckpt.pt"
    model = torch.nn.Linear(3, 2)
    torch.save({"model": model.state_dict(), "epoch": 4}, path)
    src = f"import torch\nckpt = torch.load({str(path)!r})\n"
    fixed, n, _ = fix_source(src, unsafe=True, select=["PT-IO002"])
    assert n == 1 and review_source(fixed, select=["PT-IO002"]) == []
    scope: dict = {}
    exec(compile(fixed, "fixed.py", "exec"), scope)  # noqa: S102 -- our own generated test source
    assert scope["ckpt"]["epoch"] == 4
    assert torch.equal(scope["ckpt"]["model"]["weight"], model.weight.detach())
