"""The docs' factual claims, checked on the installed torch (CPU), next to the sentence each one backs.

Each test names the doc that states the fact; if a torch upgrade changes the behaviour, the test fails and the
doc must be revised with it."""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import re
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
    parts = {"deprecated": DEPRECATED_WARNINGS, "tf32": TF32_CLASH, "compile": COMPILE_COUNT,
             "compile_modes": COMPILE_MODES, "distributed": DISTRIBUTED}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], input=json.dumps(parts), capture_output=True, text=True, timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
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
import logging
warned = []
class Catch(logging.Handler):
    def emit(self, record):
        warned.append(record.levelno)
logging.getLogger("torch._dynamo.convert_frame").addHandler(Catch())
torch._dynamo.reset()
torch._dynamo.config.recompile_limit = 2
compiles = 0
g = torch.compile(f, backend=counting_backend, dynamic=False)
for n in range(3, 9):
    g(torch.randn(n))  # past the limit: eager, no error
results["limited"] = compiles
results["warnings"] = sum(level == logging.WARNING for level in warned)
torch._dynamo.reset()
torch._dynamo.config.fail_on_recompile_limit_hit = True
g = torch.compile(f, backend=counting_backend, dynamic=False)
try:
    for n in range(3, 9):
        g(torch.randn(n))
    results["fail"] = "no-error"
except Exception as exc:
    results["fail"] = type(exc).__name__
torch._dynamo.config.fail_on_recompile_limit_hit = False
print(results["None"], results["False"], results["limited"], torch._dynamo.config.recompile_limit,
      results["warnings"], results["fail"])
"""


COMPILE_MODES = """
import torch
from torch import nn
torch.set_num_threads(1)
torch._dynamo.reset()
torch._dynamo.config.recompile_limit = 8  # the default (an earlier check in this child lowers it)
graphs = []
def counting_backend(gm, example_inputs):
    graphs.append(len(gm.graph.nodes))
    return gm.forward
model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.Linear(4, 2))
compiled = torch.compile(model, backend=counting_backend)
x = torch.randn(3, 4)
counts = []
compiled(x); compiled(x); counts.append(len(graphs))          # train mode, twice: one graph
model.eval(); compiled(x); counts.append(len(graphs))         # eval(): a new graph
with torch.no_grad():
    compiled(x)
counts.append(len(graphs))                                     # no_grad: another
with torch.inference_mode():
    compiled(x)
counts.append(len(graphs))                                     # inference_mode: another
model.train(); compiled(x); counts.append(len(graphs))        # back to train: cached, no new graph
torch._dynamo.reset(); graphs.clear()
f = torch.compile(lambda t: (t * 2).sum(), backend=counting_backend)
for n in (3, 4, 5):
    t = torch.randn(n)
    torch._dynamo.mark_dynamic(t, 0)
    f(t)
marked = len(graphs)
def branchy(t):
    if t.sum() > 0:  # data-dependent Python control flow: a graph break
        return t * 2
    return t - 1
torch._dynamo.reset(); graphs.clear()
torch.compile(branchy, backend=counting_backend)(torch.randn(3))
broken = len(graphs)
torch._dynamo.reset()  # else the cached graphs of `branchy` are reused and nothing is traced again
try:
    torch.compile(branchy, backend=counting_backend, fullgraph=True)(torch.randn(3))
    fullgraph = "no-error"
except Exception as exc:
    fullgraph = type(exc).__name__
in_place = nn.Sequential(nn.Linear(2, 2)); in_place.compile(backend=counting_backend)
wrapped = torch.compile(nn.Sequential(nn.Linear(2, 2)), backend=counting_backend)
print(" ".join(map(str, counts)), marked, broken, fullgraph, next(iter(in_place.state_dict())),
      next(iter(wrapped.state_dict())), type(in_place).__name__)
"""


def test_compile_modes_add_graphs_and_the_compile_tools_behave_as_documented():
    out = _child_outputs()["compile_modes"].split()
    counts, marked, broken, fullgraph, in_place_key, wrapped_key, in_place_type = out[:5], *out[5:]
    assert counts == ["1", "2", "3", "4", "4"], "train, eval(), no_grad, inference_mode: one graph each"
    assert marked == "1", "mark_dynamic: one dynamic graph for every size"
    assert broken == "2" and fullgraph == "Unsupported", "a graph break splits in two; fullgraph=True raises"
    assert in_place_key == "0.weight" and in_place_type == "Sequential", "model.compile() keeps the module's keys"
    assert wrapped_key == "_orig_mod.0.weight"
    doc = _doc("performance.md")
    assert "`model.eval()` / `model.train()`" in doc and "`torch.inference_mode()`" in doc
    assert "_orig_mod." in doc


def test_compile_dynamic_none_recompiles_once_false_per_shape():
    assert torch._dynamo.config.recompile_limit == 8
    default, static, limited, _, warnings_logged, fail = _child_outputs()["compile"].split()
    assert default == "2", "dynamic=None: one static graph, then one dynamic graph for all later shapes"
    assert static == "4", "dynamic=False: one graph per shape"
    assert limited == "2", "past recompile_limit the function runs eagerly (no new compiles, no error)"
    assert warnings_logged == "1", "hitting the limit logs one warning"
    assert fail != "no-error", "fail_on_recompile_limit_hit=True turns the fallback into an error"
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
    with torch.autocast("cpu", dtype=torch.bfloat16):
        others = [nn.GroupNorm(2, 8)(hidden), nn.BatchNorm1d(8)(hidden), hidden.softmax(-1), hidden.log_softmax(-1)]
        loss = nn.functional.cross_entropy(hidden, torch.tensor([0, 1]))
    assert [t.dtype for t in others] == [torch.bfloat16] * 4
    assert loss.dtype == torch.float32  # cross_entropy is on CPU autocast's fp32 list
    assert torch.get_autocast_dtype("cpu") == torch.bfloat16  # "AMP on CPU defaults to bf16" (SKILL.md)
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
        assert n == 0, f"{name} warned {n} times in 3 calls"  # rules.md (PT-DEP001): "do not warn at all"


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
    for stale in ("12–31 s", "12-31 s", "12–50 s", "12-50 s", "10-30 s", "10–30 s", "~100x", "roughly 10x",
                  "about 6x", "~30% more compute"):
        assert stale not in text, stale
    # the same claim carries the same figure everywhere (rules.md included: it is generated from the rules)
    text += (DOCS / "rules.md").read_text()
    flat = " ".join(text.split())
    compile_cold = set(re.findall(r"(\d+-\d+) s cold", flat))
    bf16_slower = set(re.findall(r"(\d+-\d+)x slower than fp32", flat))
    assert compile_cold == {"12-120"}, compile_cold
    assert bf16_slower == {"40-130"}, bf16_slower
    batched = set(re.findall(r"(\d+-\d+)x faster than per-item", flat)) | set(
        re.findall(r"Indexing once per batch is (\d+-\d+)x faster", flat))
    assert batched == {"5-9"}, batched


def test_every_speed_figure_names_where_it_was_measured():
    """A figure like "7-9x" or "12-120 s" is a measurement: its sentence says on what machine (or it is arithmetic)."""
    arithmetic = {"2.4x"}  # sqrt(6), stated as such in modules.md
    missing = []
    for path in [REPO / "SKILL.md", *sorted(DOCS.glob("*.md"))]:
        if path.name == "rules.md":
            continue
        flat = " ".join(path.read_text().split())
        for m in re.finditer(r"\b\d[\d.]*(?:-\d[\d.]*)?(?:x| s)\b(?! \d)", flat):
            if m.group(0) in arithmetic:
                continue
            window = flat[max(0, m.start() - 300) : m.end() + 300]
            if not re.search(r"measured|checked", window):
                missing.append(f"{path.name}: ...{flat[max(0, m.start() - 60) : m.end() + 60]}...")
    assert not missing, "figures without a machine:\n" + "\n".join(missing)


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


# --------------------------------------------------------------------------- PT-PERF002 (performance.md)
def test_rsqrt_is_not_bit_identical_to_division_by_sqrt():
    torch.manual_seed(0)
    x, v = torch.randn(10_000), torch.rand(10_000) + 1e-3
    a, b = x / torch.sqrt(v), x * torch.rsqrt(v)
    torch.testing.assert_close(a, b)  # equal to float32 rounding...
    assert not torch.equal(a, b)  # ...but not bit for bit
    assert 0.05 < (a != b).float().mean().item() < 0.6  # "about a quarter of the elements"
    assert "not\nbit-identical" in _doc("performance.md") or "not bit-identical" in _doc("performance.md")


# --------------------------------------------------------------------------- pin_memory (data-loading.md, PT-DATA001)
@pytest.mark.skipif(torch.accelerator.is_available(), reason="checks the no-accelerator behaviour")
def test_pin_memory_without_accelerator_warns_and_pins_nothing():
    data = torch.utils.data.TensorDataset(torch.randn(8, 2))
    with pytest.warns(UserWarning, match="no accelerator is found"):
        (batch,) = next(iter(DataLoader(data, batch_size=4, pin_memory=True)))
    assert not batch.is_pinned()
    assert "pin_memory=(device.type == \"cuda\")" in _doc("data-loading.md")


# --------------------------------------------------------------------------- activation checkpointing (memory.md)
def test_checkpoint_without_use_reentrant_warns_and_reentrant_drops_grads():
    from torch.utils.checkpoint import checkpoint

    assert inspect.signature(checkpoint).parameters["use_reentrant"].default is None
    layer = nn.Linear(3, 3)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(layer, torch.randn(2, 3, requires_grad=True))
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad"):
        out = checkpoint(layer, torch.randn(2, 3), use_reentrant=True)  # raw data in, as for the first block
    assert not out.requires_grad  # the block's parameters would get no gradient
    assert checkpoint(layer, torch.randn(2, 3), use_reentrant=False).requires_grad
    with pytest.raises(ValueError, match="(?i)unexpected keyword"):  # reentrant rejects keyword arguments
        checkpoint(lambda x, scale: layer(x) * scale, torch.randn(2, 3, requires_grad=True), scale=2.0,
                   use_reentrant=True)
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="incompatible with .grad"):  # ...and torch.autograd.grad
        torch.autograd.grad(checkpoint(layer, x, use_reentrant=True).sum(), x)
    assert "use_reentrant=False" in _doc("memory.md")


# --------------------------------------------------------------------------- memory snapshot (memory.md)
def test_memory_snapshot_recipe_uses_existing_api():
    record = inspect.signature(torch.cuda.memory._record_memory_history).parameters
    assert {"enabled", "max_entries"} <= set(record)
    assert "filename" in inspect.signature(torch.cuda.memory._dump_snapshot).parameters
    doc = _doc("memory.md")
    assert "_record_memory_history(max_entries=" in doc and "_dump_snapshot(" in doc
    assert "_record_memory_history(enabled=None)" in doc


# --------------------------------------------------------------------------- exact resume (checkpointing.md)
def test_a_new_loader_iterator_draws_from_the_global_rng_unless_given_a_generator():
    data = torch.utils.data.TensorDataset(torch.arange(8))

    def next_draw(**loader_kwargs) -> float:
        torch.manual_seed(0)
        iter(DataLoader(data, batch_size=4, **loader_kwargs))  # draws the workers' base seed
        return torch.rand(1).item()

    torch.manual_seed(0)
    untouched = torch.rand(1).item()
    assert next_draw() != untouched  # without generator=: one draw from the global RNG per iterator
    assert next_draw(generator=torch.Generator().manual_seed(1)) == untouched
    doc = _doc("checkpointing.md")
    assert "ResumableSampler" in doc and "islice(loader" in doc  # skips at the sampler; explains islice


# --------------------------------------------------------------------------- worker pickling (data-loading.md)
@pytest.mark.skipif(sys.platform == "win32", reason="no forkserver on Windows")
def test_lambda_collate_does_not_pickle_under_forkserver():
    loader = DataLoader(list(range(4)), batch_size=2, num_workers=1, multiprocessing_context="forkserver",
                        collate_fn=lambda batch: batch)
    with (pytest.warns(UserWarning, match="Python 3.14\\+ changed the multiprocessing start method"),
          pytest.raises(Exception, match="(?i)pickle")):
        next(iter(loader))
    assert "forkserver, the Linux default from Python 3.14" in _doc("data-loading.md")


# --------------------------------------------------------------------------- IterableDataset (data-loading.md)
class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter(range(6))  # no sharding: every worker yields everything


def test_unsharded_iterable_dataset_repeats_per_worker_and_refuses_shuffle():
    seen = [int(x) for batch in DataLoader(_Stream(), batch_size=3, num_workers=2) for x in batch]
    assert sorted(seen) == sorted(list(range(6)) * 2)
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(_Stream(), shuffle=True)
    doc = _doc("data-loading.md")
    assert "get_worker_info()" in doc and "40 samples from 20" in doc


# --------------------------------------------------------------------------- scaled_dot_product_attention (performance.md)
def test_sdpa_masks_causality_and_dropout():
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)  # (B, H, T, Dh)
    scores = q @ k.transpose(-2, -1) / math.sqrt(8)
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v), scores.softmax(-1) @ v)
    allowed = torch.ones(5, 5, dtype=torch.bool).tril()
    causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), causal)  # True = attend
    additive = torch.zeros(5, 5).masked_fill(~allowed, float("-inf"))
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=additive), causal)  # float: added
    # is_causal is aligned top-left: one query against 5 cached keys sees only the first key
    one = F.scaled_dot_product_attention(q[:, :, -1:], k, v, is_causal=True)
    torch.testing.assert_close(one, v[:, :, :1])
    # dropout_p applies whenever it is > 0: there is no module mode to switch it off
    assert not torch.equal(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5),
                           F.scaled_dot_product_attention(q, k, v, dropout_p=0.5))
    # forcing a backend that cannot run these inputs (none of the CUDA kernels on CPU) is an error
    with pytest.raises(RuntimeError, match="No viable backend"), sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
        F.scaled_dot_product_attention(q, k, v)
    assert set(SDPBackend.__members__) >= {"MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"}
    # nn.MultiheadAttention's key_padding_mask has the opposite convention: True = ignore this key
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(1, 4, 8)
    ignore_last = torch.tensor([[False, False, False, True]])
    torch.testing.assert_close(mha(x, x, x, key_padding_mask=ignore_last)[0], mha(x, x[:, :3], x[:, :3])[0])
    doc = _doc("performance.md")
    for needle in ("is_causal=True", "enable_gqa", "sdpa_kernel", "key_padding_mask", "self.training"):
        assert needle in doc, needle


# --------------------------------------------------------------------------- torch.accelerator (devices.md)
def test_accelerator_api_names_and_no_accelerator_behaviour():
    acc = torch.accelerator
    for name in ("is_available", "current_accelerator", "device_count", "set_device_index", "synchronize",
                 "empty_cache", "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats"):
        assert callable(getattr(acc, name)), name
    assert "check_available" in inspect.signature(acc.current_accelerator).parameters
    assert torch.distributed.get_default_backend_for_device(torch.device("cpu")) == "gloo"
    if not acc.is_available():
        assert acc.current_accelerator() is None
        with pytest.raises(RuntimeError, match="none is available"):
            acc.synchronize()
    if not torch.cuda.is_available():  # the torch.cuda helpers the bad block uses
        with pytest.raises((AssertionError, AttributeError, RuntimeError)):
            torch.cuda.synchronize()
        with pytest.raises((AssertionError, AttributeError, RuntimeError)):
            torch.cuda.reset_peak_memory_stats()
        assert torch.cuda.max_memory_allocated() == 0  # no error: a silently wrong measurement
    doc = (DOCS / "devices.md").read_text()
    assert "torch.accelerator.current_accelerator() if torch.accelerator.is_available()" in doc


# --------------------------------------------------------------------------- weight decay groups (training-loop.md)
def test_adamw_decays_parameters_without_gradient_and_rejects_duplicates():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.zeros(3)
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((3,), 1 - 0.1 * 0.5))  # decoupled: shrinks anyway
    shared = nn.Parameter(torch.ones(2, 2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        torch.optim.AdamW([{"params": [shared]}, {"params": [shared], "weight_decay": 0.0}])
    doc = _doc("training-loop.md")
    assert "1 - lr * weight_decay" in doc and "LambdaLR" in doc


# --------------------------------------------------------------------------- CUDA_LAUNCH_BLOCKING (debugging.md)
def test_out_of_range_targets_fail_loudly_on_cpu():
    import torch.nn.functional as F

    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        F.cross_entropy(torch.randn(4, 3), torch.tensor([0, 2, 3, 1]))
    assert "CUDA_LAUNCH_BLOCKING=1" in _doc("debugging.md")


# --------------------------------------------------------------------------- compile + DDP, FSDP2 (distributed.md)
DISTRIBUTED = """
import os, tempfile
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed.fsdp import fully_shard
torch.set_num_threads(1)
torch._dynamo.reset()
torch._dynamo.config.recompile_limit = 8
init = os.path.join(tempfile.mkdtemp(), "init")
dist.init_process_group("gloo", init_method="file://" + init, rank=0, world_size=1)
graphs = []
def counting_backend(gm, example_inputs):
    graphs.append(len(gm.graph.nodes))
    return gm.forward
class Net(nn.Module):  # four 1 MiB weight matrices
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(512, 512) for _ in range(4))
    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
out = []
for order in ("wrap_then_compile", "compile_then_wrap", "wrap_then_compile_in_place"):
    torch._dynamo.reset(); graphs.clear()
    net = Net()
    if order == "wrap_then_compile":
        model = torch.compile(DDP(net, bucket_cap_mb=1), backend=counting_backend)
    elif order == "compile_then_wrap":
        model = DDP(torch.compile(net, backend=counting_backend), bucket_cap_mb=1)
    else:
        model = DDP(net, bucket_cap_mb=1)
        model.compile(backend=counting_backend)
    model(torch.randn(2, 512)).sum().backward()
    out.append(f"{order}={len(graphs)}={next(iter(model.state_dict()))}")
torch._dynamo.reset()
try:
    torch.compile(DDP(Net()), backend=counting_backend, fullgraph=True)(torch.randn(2, 512))
    out.append("fullgraph=ok")
except Exception as exc:
    out.append("fullgraph=" + type(exc).__name__)
torch._dynamo.reset()
# FSDP2: an optimizer built before fully_shard holds the replaced tensors
fsdp_model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
early = torch.optim.SGD(fsdp_model.parameters(), lr=0.1)
fully_shard(fsdp_model)
before = [p.detach().full_tensor().clone() for p in fsdp_model.parameters()]
fsdp_model(torch.randn(3, 4)).sum().backward()
early.step()
changed = sum(not torch.equal(b, p.detach().full_tensor()) for b, p in zip(before, fsdp_model.parameters()))
out.append(f"fsdp_early_optimizer_changed={changed}")
out.append("fsdp_state_dict=" + type(next(iter(fsdp_model.state_dict().values()))).__name__)
dist.destroy_process_group()
print(" ".join(out))
"""


def test_ddp_compile_splits_at_buckets_and_fsdp_needs_the_optimizer_after_sharding():
    facts = dict(item.split("=", 1) for item in _child_outputs()["distributed"].split())
    assert facts["wrap_then_compile"] == "4=_orig_mod.module.layers.0.weight"  # one graph per 1 MiB bucket
    assert facts["compile_then_wrap"] == "4=module._orig_mod.layers.0.weight"
    assert facts["wrap_then_compile_in_place"] == "4=module.layers.0.weight"
    assert facts["fullgraph"] == "Unsupported"  # DDP's own forward has graph breaks
    assert facts["fsdp_early_optimizer_changed"] == "0"  # silently trains nothing
    assert facts["fsdp_state_dict"] == "DTensor"
    doc = _doc("distributed.md")
    for needle in ("DDPOptimizer", "ddp_model.compile()", "fully_shard", "dcp.save", "dcp.load", "to_empty"):
        assert needle in doc, needle


# --------------------------------------------------------------------------- PT-REP004 (reproducibility.md)
def test_globally_seeded_shuffled_loader_with_workers_repeats():
    data = torch.utils.data.TensorDataset(torch.arange(32))

    def order() -> list[int]:
        torch.manual_seed(0)
        loader = DataLoader(data, batch_size=4, shuffle=True, num_workers=2)  # PT-REP004's "bad" loader
        return [int(i) for (batch,) in loader for i in batch]

    first = order()
    assert first == order() and first != list(range(32))
    assert "repeats bit for bit" in " ".join(_doc("reproducibility.md").split())
