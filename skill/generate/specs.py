"""Specs for the code generators: what the user wants, validated before any code is written.

Defaults are what a practitioner would pick for a small-to-medium single-node job (AdamW, warm-up +
cosine, clip 1.0, full resumable checkpoints, seeded data order). Validators reject contradictions
with a message that names the field and says how to fix it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal[
    "classification",
    "regression",
    "language_modelling",
    "sequence_classification",
    "segmentation",
]
Source = Literal["image_folder", "csv", "token_sequences", "tensors", "file_list"]

# Which data sources make sense for which task (first entry = default).
SOURCES_FOR_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("csv", "tensors", "image_folder", "file_list"),
    "regression": ("csv", "tensors", "file_list"),
    "language_modelling": ("token_sequences", "tensors"),
    "sequence_classification": ("token_sequences", "tensors"),
    "segmentation": ("file_list", "tensors"),
}
# Transforms each source understands.
TRANSFORMS_FOR_SOURCE: dict[str, tuple[str, ...]] = {
    "image_folder": ("resize", "random_resized_crop", "horizontal_flip", "normalize"),
    "csv": ("standardize",),
    "token_sequences": (),  # byte-level tokens, truncated to seq_len
    "tensors": ("standardize",),
    "file_list": ("horizontal_flip",),
}
IN_MEMORY_SOURCES = ("csv", "tensors", "token_sequences")


class SpecError(ValueError):
    """An invalid spec: `field` is the dotted field name, `fix` says what to change."""

    def __init__(self, field: str, problem: str, fix: str):
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem} Fix: {fix}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class LoaderSpec(_Spec):
    """DataLoader settings. `None` means: choose for the device and the source at run time."""

    batch_size: int = Field(64, ge=1, description="Samples per batch (per process under DDP).")
    num_workers: int | None = Field(None, ge=0, description="None: 0 for in-memory data, else min(8, cpu count).")
    pin_memory: bool | None = Field(None, description="None: True when training on CUDA.")
    persistent_workers: bool | None = Field(None, description="None: True when num_workers > 0.")
    drop_last: bool | None = Field(None, description="Training loader only. None: True when the model has BatchNorm.")
    prefetch_factor: int | None = Field(None, ge=1, description="Batches each worker loads ahead; None: torch's default (2) when workers > 0.")


class DatasetSpec(_Spec):
    """What the data looks like and how it is loaded."""

    source: Source | None = Field(None, description="None: the task's usual source.")
    path: str = Field("data", description="Default for --data-path in the generated program.")
    task: Task = Field("classification", description="What the data is for; decides the source, the collate and the targets.")
    # Shapes (also used by --synthetic-data).
    input_dim: int = Field(32, ge=1, description="Tabular feature count.")
    num_classes: int = Field(10, ge=2, description="Classes (classification, segmentation).")
    num_targets: int = Field(1, ge=1, description="Regression outputs.")
    image_size: int = Field(32, ge=8, description="Images are resized/cropped to this side length.")
    in_channels: int = Field(3, ge=1, description="Image channels (1 grey, 3 RGB).")
    vocab_size: int = Field(257, ge=2, description="Byte-level tokens are byte + 1; 0 is padding.")
    seq_len: int = Field(64, ge=2, description="Block length (LM) or max length (sequences).")
    variable_length: bool = Field(False, description="Sequences keep their length; padded per batch.")
    bucketing: bool = Field(False, description="Group sequences of similar length into batches.")
    transforms: list[str] = Field(default_factory=list, description="By name: image_folder takes resize, random_resized_crop, horizontal_flip, normalize (training always ends at image_size; evaluation only resizes and normalizes); csv/tensors take standardize; file_list takes horizontal_flip.")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share held out for validation (a seeded split).")
    test_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="Share held out for a final test evaluation.")
    synthetic_size: int = Field(2048, ge=16, description="Samples made by --synthetic-data.")
    loader: LoaderSpec = Field(default_factory=LoaderSpec)

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        # The path reaches generated code only as a repr() literal; control characters (newlines, NUL) are
        # refused because no real dataset path holds them and they make the program's --help unreadable.
        if not value or not value.strip():
            raise SpecError("path", "the data path is empty.", 'give a path, e.g. "data".')
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise SpecError(
                "path",
                "the data path holds a control character (newline, tab, NUL...).",
                "give a path without control characters.",
            )
        if len(value) > 4096:
            raise SpecError("path", "the data path is longer than 4096 characters.", "give a shorter path.")
        return value

    @property
    def resolved_source(self) -> str:
        return self.source or SOURCES_FOR_TASK[self.task][0]

    @property
    def in_memory(self) -> bool:
        return self.resolved_source in IN_MEMORY_SOURCES

    def has_batch_norm(self, model_batch_norm: bool | None) -> bool:
        if model_batch_norm is not None:
            return model_batch_norm
        return self.task == "segmentation" or self.resolved_source == "image_folder"

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        src = self.resolved_source
        allowed = SOURCES_FOR_TASK[self.task]
        if src not in allowed:
            raise SpecError(
                "source",
                f"source {src!r} does not fit task {self.task!r}.",
                f"use one of {', '.join(allowed)}.",
            )
        sequence_task = self.task in ("language_modelling", "sequence_classification")
        if self.variable_length and not (self.task == "sequence_classification"):
            raise SpecError(
                "variable_length",
                "variable-length batches only apply to sequence_classification (language modelling uses fixed blocks).",
                "set variable_length=false or task=sequence_classification.",
            )
        if self.bucketing and not self.variable_length:
            raise SpecError(
                "bucketing",
                "bucketing groups sequences by length, but variable_length is false.",
                "set variable_length=true or bucketing=false.",
            )
        if sequence_task and src == "tensors" and self.variable_length:
            raise SpecError(
                "variable_length",
                "a tensors file holds fixed-length rows.",
                "use source=token_sequences for variable-length data.",
            )
        known = TRANSFORMS_FOR_SOURCE[src]
        for name in self.transforms:
            if name not in known:
                raise SpecError(
                    "transforms",
                    f"transform {name!r} does not apply to source {src!r}.",
                    f"choose from {', '.join(known) or '(none)'}.",
                )
        if "standardize" in self.transforms and self.task not in ("classification", "regression"):
            raise SpecError(
                "transforms",
                f"standardize rescales float features; task {self.task!r} reads token ids or images per pixel.",
                "drop standardize from transforms.",
            )
        if self.val_fraction + self.test_fraction >= 0.9:
            raise SpecError(
                "val_fraction",
                "validation and test splits leave under 10% of the data for training.",
                "lower val_fraction/test_fraction (e.g. 0.1 each).",
            )
        lo = self.loader
        if lo.persistent_workers and lo.num_workers == 0:
            raise SpecError(
                "loader.persistent_workers",
                "persistent workers need worker processes, but num_workers=0.",
                "set loader.num_workers>0 or loader.persistent_workers=false.",
            )
        if lo.prefetch_factor is not None and lo.num_workers == 0:
            raise SpecError(
                "loader.prefetch_factor",
                "prefetch_factor only applies with worker processes (num_workers=0).",
                "set loader.num_workers>0 or drop loader.prefetch_factor.",
            )
        return self


class CheckpointSpec(_Spec):
    """What a checkpoint holds and how it is written and read."""

    save_optimizer: bool = Field(True, description="Save and restore the optimizer state (momentum, Adam moments).")
    save_scheduler: bool = Field(True, description="Save and restore the LR scheduler state.")
    save_scaler: bool = Field(True, description="Save and restore the GradScaler state (fp16).")
    save_rng: bool = Field(True, description="Save and restore python/torch/CUDA RNG states (exact resume).")
    resumable: bool = Field(True, description="Checkpoints are meant to resume training exactly.")
    every_steps: int | None = Field(None, ge=1, description="Save every N optimizer steps; None: at each epoch end.")
    keep_last_n: int = Field(3, ge=1, description="Older step checkpoints are deleted.")
    atomic: bool = Field(True, description="Write to a temp file, then os.replace.")
    weights_only_load: bool = Field(True, description="torch.load(weights_only=True).")
    save_best: bool = Field(True, description="Also keep best.pt (weights only) by val loss.")

    @model_validator(mode="after")
    def _check(self) -> CheckpointSpec:
        if self.resumable:
            for name in ("save_optimizer", "save_scheduler", "save_rng", "save_scaler"):
                if not getattr(self, name):
                    raise SpecError(
                        name,
                        "resumable checkpoints need it: a resumed run would differ from an uninterrupted one.",
                        f"set {name}=true or resumable=false.",
                    )
        if not self.weights_only_load:
            raise SpecError(
                "weights_only_load",
                "torch.load without weights_only=True runs arbitrary pickled code.",
                "keep weights_only_load=true (checkpoints here hold only tensors and plain data).",
            )
        return self


class ModelSpec(_Spec):
    hidden_dim: int = Field(128, ge=4, description="Width of MLP / transformer layers.")
    num_layers: int = Field(2, ge=1, le=24, description="Hidden layers (MLP) or blocks (transformer, CNN).")
    num_heads: int = Field(4, ge=1, description="Attention heads (transformer tasks); must divide hidden_dim.")
    base_channels: int = Field(32, ge=1, description="CNN width of the first block.")
    activation: Literal["gelu", "relu"] = Field("gelu", description="MLP activation.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout probability (0 disables).")
    batch_norm: bool | None = Field(
        None, description="None: on for CNNs (images, segmentation), off for MLPs/transformers."
    )


class OptimizerSpec(_Spec):
    name: Literal["adamw", "adam", "sgd"] = Field("adamw", description="Optimizer; AdamW and SGD exclude biases and norms from weight decay.")
    lr: float = Field(3e-3, gt=0.0, description="Peak learning rate (after warm-up).")
    weight_decay: float = Field(0.1, ge=0.0, description="Decoupled weight decay on weight matrices only.")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum (ignored by Adam/AdamW).")
    betas: tuple[float, float] = Field((0.9, 0.95), description="Adam/AdamW (beta1, beta2).")


class SchedulerSpec(_Spec):
    name: Literal["cosine", "linear", "onecycle", "constant", "none"] = Field("cosine", description="LR schedule over all optimizer steps, stepped once per optimizer step.")
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0, description="Share of the steps spent warming up linearly from 0.")
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0, description="Final LR as a share of the peak (cosine, linear).")


class TrainLoopSpec(_Spec):
    """A complete training program."""

    task: Task = Field("classification", description="What to train; picks the model family, loss and metric.")
    data: DatasetSpec | None = Field(None, description="None: defaults for the task.")
    model: ModelSpec = Field(default_factory=ModelSpec)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    epochs: int | None = Field(10, ge=1, description="Default of --epochs; None: run until max_steps.")
    max_steps: int | None = Field(None, ge=1, description="Default of --max-steps (optimizer steps); stops first if smaller.")
    amp: Literal["none", "bf16", "fp16"] = Field("none", description="Default of --amp: autocast dtype (bf16 only where the hardware is native; fp16 with a GradScaler).")
    grad_scaler: bool | None = Field(None, description="None: on exactly when amp=fp16.")
    grad_accum_steps: int = Field(1, ge=1, description="Micro-batches per optimizer step (loss divided by it; the last partial window is stepped).")
    clip_grad_norm: float | None = Field(1.0, gt=0.0, description="Max global gradient norm (after unscale_ under fp16); None: no clipping.")
    compile: bool = Field(False, description="Default of --compile (cold compile costs 12-120 s, load-dependent).")
    early_stopping_patience: int | None = Field(None, ge=1, description="Evaluations without gain.")
    eval_interval: int | None = Field(None, ge=1, description="Steps; None: each epoch end.")
    log_interval: int = Field(10, ge=1, description="Optimizer steps between log lines (one host sync each).")
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0, description="Keep an exponential moving average of the weights with this decay; None: off.")
    ddp: bool = Field(False, description="DistributedDataParallel under torchrun (gloo on CPU, NCCL on CUDA).")
    shard_data_across_ranks: bool = Field(True, description="DDP: each rank reads its own shard.")
    seed: int = Field(1337, description="Default of --seed for every RNG.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Default of --device; auto: CUDA, then MPS, then CPU.")

    @model_validator(mode="before")
    @classmethod
    def _data_follows_task(cls, values):
        # The data spec inherits the loop's task unless it names one; a mismatch is an error below.
        if isinstance(values, dict):
            task = values.get("task", "classification")
            data = values.get("data")
            if data is None:
                values = {**values, "data": {"task": task}}
            elif isinstance(data, dict) and "task" not in data:
                values = {**values, "data": {**data, "task": task}}
        return values

    @property
    def dataset(self) -> DatasetSpec:
        assert self.data is not None
        return self.data

    @property
    def batch_norm(self) -> bool:
        return self.dataset.has_batch_norm(self.model.batch_norm)

    @property
    def use_scaler(self) -> bool:
        return self.amp == "fp16" if self.grad_scaler is None else self.grad_scaler

    @model_validator(mode="after")
    def _check(self) -> TrainLoopSpec:
        data = self.dataset
        if data.task != self.task:
            raise SpecError(
                "data.task",
                f"data.task={data.task!r} differs from task={self.task!r}.",
                "drop data.task (it follows task) or make them equal.",
            )
        if self.epochs is None and self.max_steps is None:
            raise SpecError("epochs", "neither epochs nor max_steps is set.", "set epochs or max_steps.")
        if self.amp == "fp16" and self.grad_scaler is False:
            raise SpecError(
                "grad_scaler",
                "fp16 autocast without a GradScaler: small gradients underflow to zero.",
                "set grad_scaler=true, or amp=bf16 (needs no scaler).",
            )
        if self.grad_scaler and self.amp != "fp16":
            raise SpecError(
                "grad_scaler",
                f"a GradScaler only helps fp16 autocast, amp={self.amp!r}.",
                "drop grad_scaler or set amp=fp16.",
            )
        if self.ddp and not self.shard_data_across_ranks:
            raise SpecError(
                "shard_data_across_ranks",
                "DDP without a distributed sampler: every rank trains on the same batches.",
                "set shard_data_across_ranks=true (each rank reads 1/world_size of each epoch).",
            )
        has_val = data.val_fraction > 0
        if self.early_stopping_patience is not None and not has_val:
            raise SpecError(
                "early_stopping_patience",
                "early stopping watches the validation loss, but data.val_fraction=0.",
                "set data.val_fraction>0 (e.g. 0.1) or early_stopping_patience=null.",
            )
        if self.eval_interval is not None and not has_val:
            raise SpecError(
                "eval_interval",
                "evaluation needs a validation split, but data.val_fraction=0.",
                "set data.val_fraction>0 or eval_interval=null.",
            )
        if self.checkpoint.save_best and not has_val:
            raise SpecError(
                "checkpoint.save_best",
                "best-model tracking needs a validation split, but data.val_fraction=0.",
                "set data.val_fraction>0 or checkpoint.save_best=false.",
            )
        if self.batch_norm and data.loader.drop_last is False:
            raise SpecError(
                "data.loader.drop_last",
                "the model has BatchNorm and the last training batch may hold one sample "
                "(BatchNorm raises 'Expected more than 1 value per channel').",
                "set data.loader.drop_last=true (or leave it unset).",
            )
        if self.batch_norm and data.task in ("language_modelling", "sequence_classification"):
            raise SpecError(
                "model.batch_norm",
                "BatchNorm over padded token sequences mixes padding into the statistics; "
                "the transformer here uses LayerNorm.",
                "set model.batch_norm=false (or leave it unset).",
            )
        if self.task in ("language_modelling", "sequence_classification"):
            if self.model.hidden_dim % self.model.num_heads:
                raise SpecError(
                    "model.num_heads",
                    f"hidden_dim={self.model.hidden_dim} is not divisible by num_heads={self.model.num_heads}.",
                    "pick num_heads that divides hidden_dim (e.g. 4 for 128).",
                )
        if self.scheduler.name == "onecycle" and self.scheduler.warmup_ratio == 0:
            raise SpecError(
                "scheduler.warmup_ratio",
                "one-cycle needs a rising phase (pct_start > 0).",
                "set scheduler.warmup_ratio>0 (e.g. 0.3 for one-cycle).",
            )
        return self
