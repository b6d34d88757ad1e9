"""The image-folder program trains on real files of mixed sizes and modes; generated EMA warms up before it is trusted.

The real-file test writes a folder of JPEG and PNG files (RGB of many sizes, one grayscale, one RGBA, one
palette image) with Pillow, then runs the generated program on it the way a user would (--data-path): loss
goes down, the same seed repeats bit for bit, and stop + resume gives the same losses as a straight run.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from pytorch_patterns.skill.generate import generate_train_loop

from .conftest import check_run_result, run_driver

PIL = pytest.importorskip("PIL.Image", reason="Pillow writes the test images (dev extra)")
if importlib.util.find_spec("torchvision") is None:  # found, not imported: see drive.py for why
    pytest.skip("the generated image-folder program reads images with torchvision (dev extra)", allow_module_level=True)

IMAGE_SPEC = {"data": {"source": "image_folder", "image_size": 16, "num_classes": 2, "val_fraction": 0.2}}


def write_image_folder(root: Path, per_class: int = 20) -> dict[str, int]:
    """root/red/*.{jpg,png} and root/blue/*: mixed sizes, one grayscale, one RGBA and one palette file."""
    rng = random.Random(0)
    counts: dict[str, int] = {}
    for label, (name, colour) in enumerate([("red", (200, 40, 40)), ("blue", (40, 40, 200))]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            size = (rng.randint(12, 48), rng.randint(10, 40))  # (W, H): no two alike, none IMAGE_SIZE square
            noisy = tuple(min(255, max(0, c + rng.randint(-40, 40))) for c in colour)
            image = PIL.new("RGB", size, noisy)
            for _ in range(20):  # some texture, so crops and flips change the pixels
                x, y = rng.randrange(size[0]), rng.randrange(size[1])
                image.putpixel((x, y), tuple(rng.randrange(256) for _ in range(3)))
            suffix = ".jpg" if i % 2 else ".png"
            if i == 0 and label == 0:
                image = image.convert("L")  # grayscale JPEG
                suffix = ".jpg"
            elif i == 1 and label == 0:
                image = image.convert("RGBA")  # alpha channel, PNG
                image.putalpha(128)
                suffix = ".png"
            elif i == 2 and label == 1:
                image = image.convert("P")  # palette PNG
                suffix = ".png"
            image.save(root / name / f"img{i:03d}{suffix}")
        counts[name] = per_class
    return counts


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images") / "folder"
    write_image_folder(root)
    modes = {PIL.open(path).mode for path in root.rglob("*.*")}
    sizes = {PIL.open(path).size for path in root.rglob("*.*")}
    assert {"RGB", "L", "RGBA", "P"} <= modes and len(sizes) > 20  # the folder really is mixed
    assert {path.suffix for path in root.rglob("*.*")} == {".jpg", ".png"}
    return root


def test_image_folder_program_trains_repeats_and_resumes_on_real_files(tmp_path, image_root):
    """Random crops and flips included: they draw from the restored RNG, so resuming is still exact."""
    transforms = ["random_resized_crop", "horizontal_flip", "normalize"]
    spec = {**IMAGE_SPEC, "data": {**IMAGE_SPEC["data"], "transforms": transforms}}
    program = tmp_path / "train.py"
    program.write_text(generate_train_loop(spec).code)
    args = ["--data-path", str(image_root), "--batch-size", "8", "--num-workers", "0", "--no-compile"]
    result = run_driver(program, tmp_path, *args, timeout=600)
    check_run_result(f"image_folder {transforms}", result)
    # 40 files, 20% validation: 32 train images in 4 batches of 8, one epoch = 4 steps, eval each epoch.
    assert [step for step, _ in result["straight_eval"]] == [4, 8, 12, 16, 20]
    assert "best.pt" in result["straight_files"]


def test_image_folder_program_decodes_in_worker_processes(tmp_path, image_root):
    """The default for per-item data: worker processes decode and transform (a crash there shows up here).
    No augmentation: training resizes each file to IMAGE_SIZE x IMAGE_SIZE like evaluation does."""
    program = tmp_path / "train.py"
    program.write_text(generate_train_loop(IMAGE_SPEC).code)
    argv = ["--data-path", str(image_root), "--batch-size", "8", "--num-workers", "2", "--max-steps", "8"]
    argv += ["--log-interval", "1", "--num-threads", "1", "--output-dir", str(tmp_path / "out")]
    code = (
        "import runpy, sys, types\n"
        "sys.modules.setdefault('torchvision._meta_registrations', types.ModuleType('shim'))  # see drive.py\n"
        f"sys.argv = [{str(program)!r}, *{argv!r}]\n"
        f"runpy.run_path({str(program)!r}, run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "train"] == list(range(1, 9))
    assert [r["step"] for r in records if r["type"] == "eval"] == [4, 8]


@pytest.mark.parametrize(
    "transforms", [[], ["horizontal_flip"], ["normalize"], ["resize"], ["random_resized_crop", "horizontal_flip"]]
)
def test_image_folder_training_transform_has_a_fixed_size(transforms):
    code = generate_train_loop({"data": {"source": "image_folder", "transforms": transforms}}).code
    train = code.split("train_transform = v2.Compose(", 1)[1].split("eval_transform", 1)[0]
    fixed = (
        "v2.RandomResizedCrop(IMAGE_SIZE)"
        if "random_resized_crop" in transforms
        else "v2.Resize((IMAGE_SIZE, IMAGE_SIZE))"
    )
    assert fixed in train and "*to_tensor" in train
    assert train.index(fixed) < train.index("*to_tensor")  # resized while still a PIL image
    assert ("v2.RandomHorizontalFlip()" in train) == ("horizontal_flip" in transforms)
    assert "v2.Resize((IMAGE_SIZE, IMAGE_SIZE))" in code.split("eval_transform =", 1)[1].split("\n", 1)[0]


def _ema_update_from(code: str, decay: float):
    import ast

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


def test_ema_evaluation_and_best_pt_never_follow_an_unwarmed_average(tmp_path):
    """decay 0.999 from step 1 would leave the EMA ~99% random init after 10 steps: validation near chance
    (ln 10 = 2.30) while the model itself is far better. With the warm-up the EMA evaluation tracks the model
    from the first evaluation on, and best.pt holds exactly the EMA weights, not the raw model's."""
    program = tmp_path / "train.py"
    program.write_text(generate_train_loop({"ema_decay": 0.999}).code)
    out = tmp_path / "out"
    argv = [sys.executable, str(program), "--synthetic-data", "--synthetic-size", "1024", "--num-threads", "1"]
    argv += ["--max-steps", "30", "--eval-interval", "10", "--log-interval", "10", "--output-dir", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["step"] for r in evals] == [10, 20, 30]
    chance = math.log(10)
    assert all(r["val_loss"] < 0.6 * chance for r in evals), evals  # from the first evaluation on
    best = torch.load(out / "best.pt", weights_only=True)
    last = torch.load(max(out.glob("ckpt_step*.pt")), weights_only=True)
    assert best["step"] == last["step"] == 30  # the loss kept improving, so the last evaluation is the best
    for name, tensor in best["model"].items():
        assert torch.equal(tensor, last["ema"][f"module.{name}"]), name  # best.pt = the EMA weights
        assert not torch.equal(tensor, last["model"][name]), name  # ... not the raw model's
    # The counterfactual the warm-up prevents: the same 30 steps averaged with a fixed 0.999 stay at the init.
    n = int(last["ema"]["n_averaged"])
    assert n == 30 and 0.999**n > 0.97
