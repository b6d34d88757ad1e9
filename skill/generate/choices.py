"""The training choices the generated programs and the reference implementations share, in one place.

Data plus tiny helpers; nothing here imports torch. The helpers take duck-typed objects: a "module" is anything
with `named_modules()` whose items have `named_parameters(recurse=False)`; a "parameter" anything with `ndim`
(or `dim()`) and `requires_grad`. Both `reference_impls/` (importing this module) and `skill/generate/` (pasting
the same decisions into generated code) follow this table; `tests/generate/test_choices.py` checks the helpers
against real torch modules.

    from pytorch_patterns.skill.generate.choices import CHOICES, param_groups
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay=0.1), lr=3e-4)
    CHOICES.eval_autocast          # True: evaluate under the same autocast as training
    CHOICES.why("eval_autocast")   # the one-sentence reason
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Class-name fragments of the modules whose parameters never get weight decay. Matching on the class name
# (not isinstance) keeps this torch-free and covers BatchNorm1d/2d/3d, SyncBatchNorm, LayerNorm, GroupNorm,
# InstanceNorm*, RMSNorm, LazyBatchNorm* and user norms named like them; Embedding and EmbeddingBag.
NORM_CLASS_MARKERS = ("Norm",)
EMBEDDING_CLASS_MARKERS = ("Embedding",)


@dataclass(frozen=True)
class Choices:
    """One value per decision; `why(name)` gives the reason in one sentence."""

    # --- optimisation
    weight_decay_excludes: tuple[str, ...] = ("bias", "norm", "embedding")
    grad_clip_norm: float | None = 1.0
    clip_after_unscale: bool = True
    zero_grad_set_to_none: bool = True
    scaler_for: tuple[str, ...] = ("fp16",)
    # --- precision
    eval_autocast: bool = True
    loss_in_fp32: bool = True
    bf16_only_if_native: bool = True
    # --- evaluation
    eval_grad_mode: str = "inference_mode"
    # --- data loading
    shuffle_train_only: bool = True
    order_from_seed_and_epoch: bool = True
    resume_skips_at_sampler: bool = True
    drop_last_train_when: tuple[str, ...] = ("batch_norm", "static_shapes")
    num_workers_in_memory: int = 0
    max_num_workers: int = 8
    pin_memory_only_cuda: bool = True

    reasons: dict[str, str] = field(default_factory=lambda: dict(_REASONS), compare=False, repr=False)

    def why(self, name: str) -> str:
        if name not in self.reasons:
            raise KeyError(f"no choice named {name!r}; known: {', '.join(self.names())}")
        return self.reasons[name]

    def names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "reasons"]

    def table(self) -> list[tuple[str, Any, str]]:
        """(name, value, why) for every choice, in declaration order: for docs and rationales."""
        return [(name, getattr(self, name), self.reasons[name]) for name in self.names()]


_REASONS = {
    "weight_decay_excludes": (
        "Decay pulls weights towards zero, which is regularisation for weight matrices but only distorts biases "
        "(shifts), norm gains/shifts (their scale is the point) and embedding rows (rare tokens get decayed every "
        "step yet updated rarely); a parameter tied to an embedding counts as one."),
    "grad_clip_norm": (
        "A global-norm clip at 1.0 is a cheap guard against the occasional exploding step (transformers, RNNs, "
        "early training) and its return value is the gradient norm worth logging; None turns it off."),
    "clip_after_unscale": (
        "Under a GradScaler the gradients are multiplied by the loss scale, so clip only after "
        "scaler.unscale_(optimizer), or max_norm compares against scaled norms (for Adam/AdamW the clip then "
        "fires every step and max_norm means nothing; for SGD updates shrink)."),
    "zero_grad_set_to_none": (
        "set_to_none=True (the default since torch 2.0) frees the gradient memory instead of writing zeros."),
    "scaler_for": (
        "fp16 needs loss scaling (small gradients underflow its 5-bit exponent); bf16 has fp32's exponent range "
        "and needs none."),
    "eval_autocast": (
        "Evaluate under the same autocast as training: the metric then measures the model in the precision it "
        "trained and will be served in, validation and training losses stay comparable, and evaluation is as fast "
        "as training; cast outputs to fp32 before the loss/metric sums."),
    "loss_in_fp32": (
        "Losses and metric sums are computed on fp32 outputs (`outputs.float()`): reductions over many elements "
        "lose digits in bf16/fp16."),
    "bf16_only_if_native": (
        "Use bf16 only where the hardware has it: torch.cuda.is_bf16_supported(including_emulation=False) on "
        "CUDA, AVX512-BF16/AMX on x86 CPUs; emulated bf16 is slower than fp16 on GPUs and 40-130x slower than "
        "fp32 on AVX2-only CPUs."),
    "eval_grad_mode": (
        "torch.inference_mode() for evaluation that returns Python numbers: no autograd bookkeeping at all "
        "(no version counters, no view tracking); use torch.no_grad() where outputs may later meet autograd."),
    "shuffle_train_only": (
        "Shuffle the training set; evaluation runs in a fixed order over every sample."),
    "order_from_seed_and_epoch": (
        "The training order is a pure function of (seed, epoch) from a private generator, so it never consumes "
        "the global RNG and a resumed run sees the same batches."),
    "resume_skips_at_sampler": (
        "On resume the sampler starts at the first unconsumed batch of the epoch: skipping by iterating the "
        "loader would fetch and decode every skipped batch."),
    "drop_last_train_when": (
        "drop_last only for training and only where it matters: BatchNorm (a tiny last batch gives noisy "
        "statistics; a batch of one raises) and static shapes under torch.compile (a partial batch recompiles); "
        "never for evaluation, which must see every sample."),
    "num_workers_in_memory": (
        "In-memory tensors are fetched a batch at a time in the main process (__getitems__ or a batch sampler "
        "with a pass-through collate: several times faster than item by item, skill/docs/data-loading.md); "
        "worker processes only add IPC there."),
    "max_num_workers": (
        "Per-item I/O or decoding (files, images) gets worker processes: min(8, CPU count)."),
    "pin_memory_only_cuda": (
        "Pinned host memory only speeds host-to-GPU copies (with non_blocking=True); on CPU or MPS it only costs "
        "page-locked memory, and torch warns."),
}

CHOICES = Choices()


# ---------------------------------------------------------------- helpers (duck-typed, torch-free)


def _ndim(param: Any) -> int:
    ndim = getattr(param, "ndim", None)
    return int(ndim) if ndim is not None else int(param.dim())


def _class_is(module: Any, markers: tuple[str, ...]) -> bool:
    return any(marker in type(module).__name__ for marker in markers)


def excluded_from_decay(name: str, param: Any, owner_classes: list[str] | tuple[str, ...] = ()) -> bool:
    """True for a parameter that gets no weight decay: a bias, anything 1-D or 0-D (norm gains and shifts,
    scalars), or a parameter owned by a norm or embedding module (any owner, for tied weights)."""
    if name.rsplit(".", 1)[-1] == "bias" or _ndim(param) < 2:
        return True
    return any(any(m in cls for m in NORM_CLASS_MARKERS + EMBEDDING_CLASS_MARKERS) for cls in owner_classes)


def split_decay(module: Any, *, trainable_only: bool = True) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(decay, no_decay) lists of (name, parameter), each parameter once even when tied (first name wins)."""
    owners: dict[int, list[str]] = {}
    names: dict[int, tuple[str, Any]] = {}
    for module_name, sub in module.named_modules():
        for param_name, param in sub.named_parameters(recurse=False):
            key = id(param)
            owners.setdefault(key, []).append(type(sub).__name__)
            if key not in names:
                names[key] = (f"{module_name}.{param_name}" if module_name else param_name, param)
    decay: list[tuple[str, Any]] = []
    no_decay: list[tuple[str, Any]] = []
    for key, (name, param) in names.items():
        if trainable_only and not getattr(param, "requires_grad", True):
            continue
        (no_decay if excluded_from_decay(name, param, owners[key]) else decay).append((name, param))
    return decay, no_decay


def param_groups(module: Any, weight_decay: float, **group_options: Any) -> list[dict[str, Any]]:
    """Optimizer parameter groups: decayed weight matrices, then the exclusions at weight_decay=0.

    Frozen parameters are left out; empty groups are dropped. Extra keyword arguments (lr=...) go into both
    groups, so per-part learning rates compose: `param_groups(head, wd, lr=1e-2) + param_groups(body, wd, lr=1e-3)`.
    """
    decay, no_decay = split_decay(module)
    groups = [
        {"params": [p for _, p in decay], "weight_decay": weight_decay, **group_options},
        {"params": [p for _, p in no_decay], "weight_decay": 0.0, **group_options},
    ]
    return [g for g in groups if g["params"]]


def train_drop_last(*, batch_norm: bool = False, static_shapes: bool = False) -> bool:
    """drop_last for a training loader: only where BatchNorm or static (compiled) shapes need full batches."""
    return (batch_norm and "batch_norm" in CHOICES.drop_last_train_when) or (
        static_shapes and "static_shapes" in CHOICES.drop_last_train_when)


def num_workers(*, in_memory: bool, cpu_count: int | None) -> int:
    """0 for in-memory tensors (batched fetching in-process), else min(max_num_workers, CPU count)."""
    if in_memory:
        return CHOICES.num_workers_in_memory
    return max(0, min(CHOICES.max_num_workers, cpu_count or 1))


def pin_memory(device_type: str) -> bool:
    """Pinned host buffers only for CUDA devices."""
    return device_type == "cuda" or not CHOICES.pin_memory_only_cuda


def use_grad_scaler(amp: str) -> bool:
    """A GradScaler only for the precisions that need loss scaling (fp16)."""
    return amp in CHOICES.scaler_for
