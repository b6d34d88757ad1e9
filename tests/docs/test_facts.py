"""The docs' factual claims, checked on the installed torch (CPU), next to the sentence each one backs.

Each test names the doc that states the fact; if a torch upgrade changes the behaviour, the test fails and the
doc must be revised with it."""

from __future__ import annotations

import functools
import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "skill" / "docs"


def _doc(name: str) -> str:
    return (DOCS / name).read_text()


CHILD = """
import contextlib, io, json, sys
out = {}
for name, source in json.loads(sys.stdin.read()).items():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(source, {"__name__": name})
    out[name] = buf.getvalue()
print("RESULTS " + json.dumps(out))
"""


@functools.cache
def _child_outputs() -> dict[str, str]:
    """Global torch settings (TF32 flags, dynamo config) and warn-once state are touched in one child
    process (one torch import for all the checks), never in the test process."""
    parts = {"deprecated": DEPRECATED_WARNINGS, "tf32": TF32_CLASH, "compile": COMPILE_COUNT}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], input=json.dumps(parts), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :])


# --------------------------------------------------------------------------- bf16 selection (mixed-precision.md)
def test_is_bf16_supported_counts_emulation_by_default():
    param = inspect.signature(torch.cuda.is_bf16_supported).parameters["including_emulation"]
    assert param.default is True  # hence the docs pass including_emulation=False
    assert "is_bf16_supported(including_emulation=False)" in _doc("mixed-precision.md")
    common = (REPO / "reference_impls" / "common.py").read_text()
    assert "is_bf16_supported(including_emulation=False)" in common
    assert "is_bf16_supported()" not in common


# --------------------------------------------------------------------------- __getitems__ (data-loading.md)
class _BatchedDataset(Dataset):
    def __init__(self) -> None:
        self.x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
        self.y = torch.arange(20)

    def __len__(self) -> int:
        return 20

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __getitems__(self, indices):  # one indexing op per batch, returns the batch itself
        idx = torch.as_tensor(indices)
        return self.x[idx], self.y[idx]


def test_getitems_needs_a_pass_through_collate():
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        next(iter(DataLoader(_BatchedDataset(), batch_size=4)))  # default collate treats the pair as 2 samples
    x, y = next(iter(DataLoader(_BatchedDataset(), batch_size=4, collate_fn=lambda batch: batch)))
    assert x.shape == (4, 2) and y.shape == (4,)
    assert "collate_fn=lambda batch: batch" in _doc("data-loading.md")


# --------------------------------------------------------------------------- torch.compile (performance.md)
COMPILE_COUNT = """
import torch
torch.set_num_threads(1)
compiles = 0
def counting_backend(gm, example_inputs):
    global compiles
    compiles += 1
    return gm.forward
def f(x):
    return (x * 2).sin().sum()
results = {}
for dynamic in (None, False):
    torch._dynamo.reset()
    compiles = 0
    g = torch.compile(f, backend=counting_backend, dynamic=dynamic)
    for n in (3, 4, 5, 6):
        g(torch.randn(n))
    results[str(dynamic)] = compiles
torch._dynamo.reset()
torch._dynamo.config.recompile_limit = 2
compiles = 0
g = torch.compile(f, backend=counting_backend, dynamic=False)
for n in range(3, 9):
    g(torch.randn(n))  # past the limit: eager, no error
results["limited"] = compiles
print(results["None"], results["False"], results["limited"], torch._dynamo.config.recompile_limit)
"""


def test_compile_dynamic_none_recompiles_once_false_per_shape():
    assert torch._dynamo.config.recompile_limit == 8
    default, static, limited, _ = map(int, _child_outputs()["compile"].split())
    assert default == 2, "dynamic=None: one static graph, then one dynamic graph for all later shapes"
    assert static == 4, "dynamic=False: one graph per shape"
    assert limited == 2, "past recompile_limit the function runs eagerly (no new compiles, no error)"
    doc = _doc("performance.md")
    for needle in ("recompile_limit", "TORCH_LOGS=recompiles", "mark_dynamic", "fullgraph=True", "model.compile()"):
        assert needle in doc, needle


# --------------------------------------------------------------------------- TF32 (performance.md)
TF32_CLASH = """
import torch
torch.backends.cuda.matmul.fp32_precision = "tf32"   # new API
try:
    torch.backends.cuda.matmul.allow_tf32            # legacy API read after the new one
except RuntimeError as exc:
    print("RAISES", "legacy and new" in str(exc))
else:
    print("NO-RAISE")
"""


def test_tf32_new_api_exists_and_mixing_with_legacy_raises():
    assert hasattr(torch.backends.cuda.matmul, "fp32_precision")
    assert hasattr(torch.backends.cudnn.conv, "fp32_precision")
    assert _child_outputs()["tf32"].split() == ["RAISES", "True"]
    doc = _doc("performance.md")
    assert "torch.backends.cuda.matmul.fp32_precision" in doc
    assert "torch.backends.cudnn.conv.fp32_precision" in doc


# --------------------------------------------------------------------------- nn.Linear init (modules.md)
def test_linear_init_is_uniform_one_over_sqrt_fan_in():
    torch.manual_seed(0)
    fan_in = 400
    layer = nn.Linear(fan_in, 300)
    bound = 1 / math.sqrt(fan_in)
    w = layer.weight.detach()
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.99 * bound  # fills the interval: not the tighter-looking "Kaiming" bound
    assert abs(w.std().item() - bound / math.sqrt(3)) < 0.02 * bound  # std of U(-b, b) is b / sqrt(3)
    assert layer.bias.detach().abs().max() <= bound
    assert "1/sqrt(fan_in)" in _doc("modules.md")


# --------------------------------------------------------------------------- autocast on CPU (mixed-precision.md)
def test_cpu_bf16_autocast_layer_norm_returns_bf16():
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model[0](torch.randn(2, 8))  # bf16, as inside any autocast network
        out = model[1](hidden)
    assert hidden.dtype == torch.bfloat16
    assert out.dtype == torch.bfloat16  # the "normalization runs in fp32" rule is CUDA autocast's
    doc = _doc("mixed-precision.md")
    assert "CUDA" in doc and "LayerNorm" in doc


def test_cpu_autocast_bce_loss_does_not_raise():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nn.BCELoss()(torch.sigmoid(torch.randn(4, 1)), torch.rand(4, 1))
    assert torch.isfinite(loss)


# --------------------------------------------------------------------------- deprecations (rules.md, PT-DEP*)
DEPRECATED_WARNINGS = """
import warnings, torch
from torch import nn
calls = {
    "svd": lambda: torch.svd(torch.randn(3, 3)),
    "ger": lambda: torch.ger(torch.randn(3), torch.randn(3)),
    "UpsamplingNearest2d": lambda: nn.UpsamplingNearest2d(scale_factor=2)(torch.randn(1, 1, 2, 2)),
}
for name, call in calls.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            call()
    print(name, len(caught))
"""


def test_deprecated_functions_do_not_warn_on_every_call():
    counts = {name: int(n) for name, n in (line.split() for line in _child_outputs()["deprecated"].splitlines())}
    assert set(counts) == {"svd", "ger", "UpsamplingNearest2d"}
    for name, n in counts.items():
        assert n < 3, f"{name} warned on every call ({n} of 3)"


# --------------------------------------------------------------------------- clipping before unscale_ (mixed-precision.md)
def test_clipping_scaled_grads_is_meaningless_for_adam_and_shrinks_sgd():
    scale = 65536.0  # GradScaler's initial scale

    def update(opt_name: str, clip_scaled: bool) -> tuple[torch.Tensor, float]:
        """One step; clip_scaled=True clips before unscaling (the bug), False clips the true gradients."""
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        before = model.weight.detach().clone()
        opt = (torch.optim.Adam if opt_name == "adam" else torch.optim.SGD)(model.parameters(), lr=0.1)
        loss = model(0.1 * torch.randn(8, 4)).pow(2).mean()
        (loss * scale if clip_scaled else loss).backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0))
        if clip_scaled:
            for p in model.parameters():
                p.grad /= scale  # what scaler.step does after the (misplaced) clip
        opt.step()
        return model.weight.detach() - before, norm

    sgd_ok, true_norm = update("sgd", clip_scaled=False)
    sgd_bug, scaled_norm = update("sgd", clip_scaled=True)
    assert true_norm < 1.0 < scaled_norm  # the clip fires only because the grads are scaled
    assert sgd_bug.norm() < 1e-3 * sgd_ok.norm()  # SGD: the update shrinks by ~the scale factor
    adam_ok, _ = update("adam", clip_scaled=False)
    adam_bug, _ = update("adam", clip_scaled=True)
    # Adam divides by the gradient's RMS: the misplaced clip changes its step far less (until the shrunk
    # gradients approach eps), so the clip is a rescale that bounds nothing rather than a tiny step.
    assert adam_bug.norm() > 0.25 * adam_ok.norm()
    assert "scale-invariant" in _doc("mixed-precision.md")


# --------------------------------------------------------------------------- torch.load (checkpointing.md)
class _Payload:
    """Any non-allow-listed class: what a malicious pickle would carry."""


def test_bare_torch_load_is_weights_only(tmp_path: Path):
    param = inspect.signature(torch.load).parameters["weights_only"]
    assert param.default is None  # None resolves to True on torch >= 2.6

    path = tmp_path / "obj.pt"
    torch.save({"obj": _Payload()}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        torch.load(path)  # bare call refuses arbitrary objects
    doc = _doc("checkpointing.md")
    assert "weights_only=False" in doc and "2.6" in doc


# --------------------------------------------------------------------------- one figure per claim
def test_speed_figures_agree_across_docs():
    text = "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md"))) + (REPO / "SKILL.md").read_text()
    for stale in ("12–31 s", "12-31 s", "12–50 s", "12-50 s", "10-30 s", "10–30 s", "~100x", "roughly 10x"):
        assert stale not in text, stale


# --------------------------------------------------------------------------- no_grad decorator (SKILL.md)
def test_no_grad_decorator_is_the_with_block():
    import torch.utils._contextlib as contextlib_impl

    # The decorator's wrapper is literally `with ctx_factory(): return func(...)`.
    assert "with ctx_factory()" in inspect.getsource(contextlib_impl.context_decorator)
    layer = nn.Linear(3, 3)

    @torch.no_grad()
    def decorated(x):
        assert not torch.is_grad_enabled()
        return layer(x)

    def block(x):
        with torch.no_grad():
            return layer(x)

    x = torch.randn(2, 3)
    a, b = decorated(x), block(x)
    assert not a.requires_grad and not b.requires_grad and torch.equal(a, b)
    assert torch.is_grad_enabled()
    skill = (REPO / "SKILL.md").read_text()
    assert "@torch.no_grad()" in skill and "reduce-overhead" in skill
