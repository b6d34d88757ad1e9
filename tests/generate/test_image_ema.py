"""Generated image-folder training resizes like evaluation; generated EMA warms up before it is trusted."""

from __future__ import annotations

import ast

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from skill.generate import generate_train_loop


def _compose_ops(code: str, name: str) -> list[str]:
    """The transform names in `name = T.Compose([...])` of a generated program."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            (items,) = node.value.args
            return [elt.func.attr for elt in items.elts]
    raise AssertionError(f"{name} not found")


@pytest.mark.parametrize(
    "transforms", [[], ["horizontal_flip"], ["normalize"], ["resize"], ["random_resized_crop", "horizontal_flip"]]
)
def test_image_folder_training_transform_has_a_fixed_size(transforms):
    code = generate_train_loop({"data": {"source": "image_folder", "transforms": transforms}}).code
    train_ops = _compose_ops(code, "train_transform")
    eval_ops = _compose_ops(code, "eval_transform")
    assert {"Resize", "RandomResizedCrop"} & set(train_ops), train_ops  # mixed-size files collate
    assert train_ops.index("ToTensor") > max(
        i for i, op in enumerate(train_ops) if op in ("Resize", "RandomResizedCrop")
    )
    assert "Resize" in eval_ops
    if "horizontal_flip" in transforms:
        assert "RandomHorizontalFlip" in train_ops


def _ema_update_from(code: str, decay: float):
    tree = ast.parse(code)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "ema_update")
    namespace = {"torch": torch, "EMA_DECAY": decay}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "<ema_update>", "exec"), namespace)
    return namespace["ema_update"]


def test_generated_ema_warms_up_and_copies_integer_buffers():
    decay = 0.999
    code = generate_train_loop({"data": {"source": "image_folder"}, "ema_decay": decay}).code
    assert "get_ema_multi_avg_fn" not in code  # a fixed decay from step 1 is what this replaces
    ema_update = _ema_update_from(code, decay)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    ema = AveragedModel(model, multi_avg_fn=ema_update, use_buffers=True)
    ema.update_parameters(model)  # first update copies
    target = torch.full_like(model[0].weight, 3.0)
    for _ in range(30):  # the model moves; a warmed-up EMA must follow it within tens of steps
        with torch.no_grad():
            model[0].weight.copy_(target)
        model.train()
        model(torch.randn(8, 4))  # bumps num_batches_tracked
        ema.update_parameters(model)
    gap = (ema.module[0].weight - target).abs().max().item()
    assert gap < 0.3, f"EMA still {gap:.3f} away from the model after 30 steps"
    # decay follows min(decay, (1 + n) / (10 + n)): after 31 updates it is still far below 0.999
    n = int(ema.n_averaged)
    assert min(decay, (1 + n) / (10 + n)) < 0.8
    assert int(ema.module[1].num_batches_tracked) == int(model[1].num_batches_tracked) == 30
