"""Assemble generated programs from the templates, tailored to a spec, plus the rationale."""

from __future__ import annotations

import ast
import re

from .choices import CHOICES, train_drop_last
from .render import render, tidy
from .specs import CheckpointSpec, DatasetSpec, TrainLoopSpec
from .tpl_data import DATA_TEMPLATE
from .tpl_train import (
    CHECKPOINT_TEMPLATE,
    EVAL_TEMPLATE,
    MAIN_TEMPLATE,
    MODEL_TEMPLATE,
    SCHEDULE_TEMPLATE,
)

TASKS = ("classification", "regression", "language_modelling", "sequence_classification", "segmentation")
SOURCES = ("image_folder", "csv", "token_sequences", "tensors", "file_list")

# (inputs, targets, outputs) shape comments per (task, input kind).
SHAPES = {
    "tabular": ("(B, D) features", "(B,) class ids", "(B, C) logits"),
    "tabular_regression": ("(B, D) features", "(B, T) targets", "(B, T) predictions"),
    "image": ("(B, C, H, W) images", "(B,) class ids", "(B, num_classes) logits"),
    "seg": ("(B, C, H, W) images", "(B, H, W) class-id masks", "(B, num_classes, H, W) logits"),
    "lm": ("(B, T) token ids", "(B, T) next-token ids", "(B, T, vocab_size) logits"),
    "seqcls": ("(B, T) token ids, PAD_ID-padded", "(B,) class ids", "(B, num_classes) logits"),
}


def py_str(value: str) -> str:
    """A Python string literal for `value`, double-quoted like ruff format writes it: never pasted raw into code."""
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def _input_kind(data: DatasetSpec) -> str:
    if data.task == "segmentation":
        return "seg"
    if data.task == "language_modelling":
        return "lm"
    if data.task == "sequence_classification":
        return "seqcls"
    if data.resolved_source == "image_folder":
        return "image"
    return "tabular"


def data_flags(data: DatasetSpec, batch_norm: bool, ddp: bool, has_test: bool) -> dict[str, bool]:
    src = data.resolved_source
    kind = _input_kind(data)
    flags = {f"src_{s}": s == src for s in SOURCES}
    flags.update({f"task_{t}": t == data.task for t in TASKS})
    flags.update(
        in_memory_real=data.in_memory,
        tokens=kind in ("lm", "seqcls"),
        variable_length=data.variable_length,
        bucketing=data.bucketing,
        standardize="standardize" in data.transforms,
        hflip="horizontal_flip" in data.transforms,
        # Training images always come out IMAGE_SIZE x IMAGE_SIZE (RandomResizedCrop, else Resize) like
        # evaluation's, or a folder of mixed-size files fails to collate on the first batch.
        random_resized_crop="random_resized_crop" in data.transforms,
        normalize="normalize" in data.transforms,
        gray=data.in_channels == 1,
        has_test=has_test,
        ddp=ddp,
        batch_norm=batch_norm,
        tabular_input=kind == "tabular",
        image_input=kind == "image",
        seg=kind == "seg",
        lm=kind == "lm",
        seqcls=kind == "seqcls",
        prefetch=data.loader.prefetch_factor is not None,
    )
    return flags


def data_subs(data: DatasetSpec) -> dict[str, object]:
    lo = data.loader
    gray = data.in_channels == 1  # ImageNet statistics, averaged over RGB for grayscale
    pin = lo.pin_memory is not False  # the loader needs the device only to decide pin_memory
    return {
        "loader_device": "device, " if pin else "",
        "loader_device_param": "device: torch.device, " if pin else "",
        "norm_mean": "[0.449]" if gray else "[0.485, 0.456, 0.406]",
        "norm_std": "[0.226]" if gray else "[0.229, 0.224, 0.225]",
        "pin_memory_expr": 'device.type == "cuda"' if lo.pin_memory is not False else "False",
        "persistent_expr": "num_workers > 0" if lo.persistent_workers is not False else "False",
        "prefetch_factor": lo.prefetch_factor or 2,
    }


def drop_last(data: DatasetSpec, batch_norm: bool, compiled: bool = False) -> bool:
    """The spec's drop_last, else the shared choice: only where BatchNorm or compiled static shapes need it."""
    if data.loader.drop_last is not None:
        return data.loader.drop_last
    return train_drop_last(batch_norm=batch_norm, static_shapes=compiled)


def shape_constants(data: DatasetSpec) -> list[str]:
    kind = _input_kind(data)
    lines = []
    if kind == "tabular":
        lines.append(f"INPUT_DIM = {data.input_dim}  # features per sample")
    if kind in ("image", "seg"):
        lines.append(f"IN_CHANNELS = {data.in_channels}")
        lines.append(f"IMAGE_SIZE = {data.image_size}  # H = W")
    if kind in ("lm", "seqcls"):
        lines.append(f"VOCAB_SIZE = {data.vocab_size}  # byte-level: byte + 1, 0 = padding")
        lines.append(f"SEQ_LEN = {data.seq_len}  # {'block length' if kind == 'lm' else 'max tokens'}")
    if data.task == "regression":
        lines.append(f"NUM_TARGETS = {data.num_targets}")
    elif data.task != "language_modelling":
        lines.append(f"NUM_CLASSES = {data.num_classes}")
    return lines


def data_rationale(data: DatasetSpec, batch_norm: bool, compiled: bool = False) -> list[str]:
    src = data.resolved_source
    notes = []
    if data.in_memory:
        notes.append(
            f"{src} data is loaded into memory once; batches are fetched with one indexing op "
            "(__getitems__) and num_workers defaults to 0 (worker processes only add IPC overhead)."
        )
    else:
        notes.append(
            f"{src} data is read per item, so loading runs in worker processes "
            "(num_workers=min(8, cpus), persistent_workers, pin_memory on CUDA)."
        )
    notes.append(
        "Batch order is a pure function of (seed, epoch) (EpochBatchSampler), sharded per DDP rank; "
        "resuming skips the batches already consumed, so a resumed run sees the same batches."
    )
    if src == "image_folder":
        notes.append(
            "Images are read with torchvision ImageFolder (PIL, converted to RGB: grayscale and RGBA files work) "
            "and transforms.v2; training resizes or random-resized-crops to image_size like evaluation, so files "
            "of mixed sizes batch."
        )
    if not data.in_memory and {"horizontal_flip", "random_resized_crop"} & set(data.transforms):
        notes.append(
            "Random augmentations replay exactly after --resume with --num-workers 0 (they use the restored global "
            "RNG); worker processes are reseeded on resume, so there the same images get different random draws."
        )
    if drop_last(data, batch_norm, compiled):
        why = "the model has BatchNorm (a 1-sample batch breaks it)" if batch_norm else "torch.compile sees one shape"
        notes.append(
            f"drop_last=True on the training loader: {why}."
            if data.loader.drop_last is None
            else "drop_last=True on the training loader (spec)."
        )
    if data.variable_length:
        notes.append("Variable-length sequences are padded per batch (pad_collate) to the longest in the batch.")
    if data.bucketing:
        notes.append("Bucketing sorts within windows of 50 batches by length, then shuffles batch order: less padding.")
    if "standardize" in data.transforms:
        notes.append("Features are standardised with training-split statistics only (no leakage).")
    notes.append("--synthetic-data builds a seeded random dataset of the same shapes with a learnable signal.")
    return notes


_PLAIN_PATH = re.compile(r"[\w./~:+@%,=-]+")


def shell_path(path: str) -> str:
    """The data path as shown in the usage docstring: verbatim when it is plain, else a placeholder.

    The docstring is code too: a path with quotes, backslashes or spaces would need shell quoting inside a
    Python string, so such a path is shown as PATH (the program's --data-path default still holds it, as a
    repr() literal)."""
    return path if _PLAIN_PATH.fullmatch(path) else "PATH"


def header(title: str, usage: list[str]) -> str:
    lines = [f'"""{title}', "", "Generated by pytorch-patterns. Usage:", ""]
    lines += [f"    {u}" for u in usage]
    lines.append('"""')
    return "\n".join(lines)


def imports(
    *,
    csv: bool,
    subset: bool,
    ddp: bool,
    contextlib_: bool,
    warnings_: bool,
    ema: bool,
    json_: bool,
    time_: bool,
    argparse_: bool = True,
    functional: bool = True,
) -> str:
    std = ["from __future__ import annotations", ""]
    mods = ["argparse"] if argparse_ else []
    if contextlib_:
        mods.append("contextlib")
    if csv:
        mods.append("csv")
    if json_:
        mods.append("json")
    mods += ["math", "os", "random"]
    if time_:
        mods.append("time")
    if warnings_:
        mods.append("warnings")
    std += [f"import {m}" for m in sorted(mods)]
    std.append("from pathlib import Path")
    std.append("")
    std.append("import torch")
    if ddp:
        std.append("import torch.distributed as dist")
    std.append("import torch.nn as nn")
    if functional:
        std.append("import torch.nn.functional as F")
    if ddp:
        std.append("from torch.nn.parallel import DistributedDataParallel as DDP")
    if ema:
        std.append("from torch.optim.swa_utils import AveragedModel")
    names = ["DataLoader", "Dataset", "Sampler"] + (["Subset"] if subset else [])
    std.append(f"from torch.utils.data import {', '.join(names)}")
    return "\n".join(std)


def mlp_block(spec: TrainLoopSpec) -> str:
    """What follows each hidden nn.Linear of the MLP."""
    parts = ["nn.BatchNorm1d(d_out)"] if spec.batch_norm else []
    parts.append("nn.GELU()" if spec.model.activation == "gelu" else "nn.ReLU()")
    return ", ".join([*parts, "nn.Dropout(dropout)"])


def model_ctor(spec: TrainLoopSpec) -> str:
    data = spec.dataset
    kind = _input_kind(data)
    if kind == "tabular":
        out = "NUM_TARGETS" if data.task == "regression" else "NUM_CLASSES"
        return f"MLP(INPUT_DIM, HIDDEN_DIM, {out}, NUM_LAYERS, DROPOUT)"
    if kind in ("image", "seg"):
        name = "ConvNet" if kind == "image" else "SegmentationNet"
        return f"{name}(IN_CHANNELS, NUM_CLASSES, BASE_CHANNELS, NUM_LAYERS, DROPOUT)"
    if kind == "lm":
        return "CausalTransformer(VOCAB_SIZE, SEQ_LEN, HIDDEN_DIM, NUM_LAYERS, NUM_HEADS, DROPOUT)"
    return "SequenceClassifier(VOCAB_SIZE, SEQ_LEN, HIDDEN_DIM, NUM_LAYERS, NUM_HEADS, DROPOUT, NUM_CLASSES)"


def assemble(parts: list[str]) -> str:
    """Header, import block, then the code sections; imports the code never uses are dropped."""
    body = "\n\n\n".join(p.strip("\n") for p in parts[2:])
    used = {node.id for node in ast.walk(ast.parse(body)) if isinstance(node, ast.Name)}
    kept = []
    for line in parts[1].splitlines():
        m = re.fullmatch(r"from (\S+) import (.+)", line)
        if m and m.group(1) != "__future__":
            names = [name for name in m.group(2).split(", ") if name.split(" as ")[-1] in used]
            if names:
                kept.append(f"from {m.group(1)} import {', '.join(names)}")
            continue
        m = re.fullmatch(r"import (\S+)(?: as (\w+))?", line)
        if m and (m.group(2) or m.group(1).split(".")[0]) not in used:
            continue
        kept.append(line)
    return tidy(parts[0] + "\n\n" + "\n".join(kept).strip("\n") + "\n\n\n" + body)


def build_train_loop(spec: TrainLoopSpec) -> tuple[str, list[str]]:
    data = spec.dataset
    bn = spec.batch_norm
    kind = _input_kind(data)
    sched = spec.scheduler.name
    ck = spec.checkpoint
    flags = data_flags(data, bn, spec.ddp, has_test=data.test_fraction > 0)
    flags.update(
        mlp=kind == "tabular",
        gelu=spec.model.activation == "gelu",
        cnn=kind == "image",
        accuracy=data.task in ("classification", "sequence_classification", "segmentation"),
        atomic=ck.atomic,
        decay_groups=True,
        # The choices shared with reference_impls (skill/generate/choices.py).
        embedding_no_decay=kind in ("lm", "seqcls") and "embedding" in CHOICES.weight_decay_excludes,
        eval_autocast=spec.amp != "none" and CHOICES.eval_autocast,
        opt_adamw=spec.optimizer.name == "adamw",
        opt_adam=spec.optimizer.name == "adam",
        opt_sgd=spec.optimizer.name == "sgd",
        lambda_schedule=sched in ("cosine", "linear", "constant"),
        sched_cosine=sched == "cosine",
        sched_linear=sched == "linear",
        sched_constant=sched == "constant",
        sched_onecycle=sched == "onecycle",
        scheduler=sched != "none",
        autocast=spec.amp != "none",
        bf16=spec.amp == "bf16",
        scaler=spec.use_scaler,
        clip=spec.clip_grad_norm is not None,
        ema=spec.ema_decay is not None,
        ddp_no_sync=spec.ddp and spec.grad_accum_steps > 1,
        early_stopping=spec.early_stopping_patience is not None,
        save_best=ck.save_best,
        checkpoint_every=ck.every_steps is not None,
        ck_optimizer=ck.save_optimizer,
        ck_scheduler=ck.save_scheduler and sched != "none",
        ck_scaler=ck.save_scaler and spec.use_scaler,
        ck_rng=ck.save_rng,
        ddp_rng=ck.save_rng and spec.ddp,
        rng_single=ck.save_rng and not spec.ddp,
    )
    key = "tabular_regression" if (kind == "tabular" and data.task == "regression") else kind
    input_shape, target_shape, output_shape = SHAPES[key]
    shape_subs = {"input_shape": input_shape, "target_shape": target_shape, "output_shape": output_shape}
    accuracy_doc = " and accuracy" if flags["accuracy"] else ""
    eval_subs = {
        "accuracy_doc": accuracy_doc,
        "class_dim": 1 if kind == "seg" else -1,
        "correct_unit": "pixels" if kind == "seg" else "predictions",
        "eval_grad_mode": CHOICES.eval_grad_mode,
    }

    consts = ["# ----------------------------------------------------------------------------- configuration"]
    consts.append("# Shapes of the data (edit to match yours; --synthetic-data uses them too).")
    consts += shape_constants(data)
    consts.append("# Model and optimisation choices baked in from the spec.")
    if kind in ("image", "seg"):
        consts.append(f"BASE_CHANNELS = {spec.model.base_channels}")
    else:
        consts.append(f"HIDDEN_DIM = {spec.model.hidden_dim}")
    consts.append(f"NUM_LAYERS = {spec.model.num_layers}")
    if kind in ("lm", "seqcls"):
        consts.append(f"NUM_HEADS = {spec.model.num_heads}")
    consts.append(f"DROPOUT = {spec.model.dropout}")
    if kind in ("image", "seg"):
        consts.append(f"BATCH_NORM = {bn}")
    dl = drop_last(data, bn, spec.compile)
    why = ""
    if dl and data.loader.drop_last is None:
        why = (
            "; the model has BatchNorm, a 1-sample batch would break it"
            if bn
            else "; compiled: no odd-sized last batch"
        )
    consts.append(f"DROP_LAST = {dl}  # training loader{why}")
    if spec.optimizer.name in ("adamw", "adam"):
        consts.append(f"BETAS = {tuple(spec.optimizer.betas)}")
    else:
        consts.append(f"MOMENTUM = {spec.optimizer.momentum}")
    if sched != "none":
        consts.append(f"WARMUP_RATIO = {spec.scheduler.warmup_ratio}  # fraction of steps spent warming up")
    if sched in ("cosine", "linear"):
        consts.append(f"MIN_LR_RATIO = {spec.scheduler.min_lr_ratio}  # final LR = base LR * MIN_LR_RATIO")
    if spec.amp != "none":
        consts.append(f"AMP_DTYPE = torch.{'bfloat16' if spec.amp == 'bf16' else 'float16'}")
    if spec.ema_decay is not None:
        consts.append(f"EMA_DECAY = {spec.ema_decay}")
    consts.append(f"KEEP_LAST_CHECKPOINTS = {ck.keep_last_n}")

    task_title = data.task.replace("_", " ")
    usage = [
        "python train.py --synthetic-data --max-steps 20            # smoke test anywhere",
        f"python train.py --data-path {shell_path(data.path)} --epochs {spec.epochs or 10}",
        "python train.py --data-path ... --resume                   # continue from the newest checkpoint",
    ]
    if spec.ddp:
        usage.append("torchrun --standalone --nproc_per_node=2 train.py --synthetic-data --max-steps 20")
    parts = [
        header(f"Train a {task_title} model on {data.resolved_source.replace('_', ' ')} data.", usage),
        imports(
            csv=data.resolved_source in ("csv", "file_list"),
            subset=data.resolved_source == "image_folder",
            ddp=spec.ddp,
            contextlib_=flags["ddp_no_sync"],
            warnings_=spec.amp == "bf16",
            ema=spec.ema_decay is not None,
            json_=True,
            time_=True,
        ),
        "\n".join(consts),
        render(DATA_TEMPLATE, flags, **data_subs(data)),
        render(MODEL_TEMPLATE, flags, mlp_block=mlp_block(spec)),
        render(SCHEDULE_TEMPLATE, flags, schedule_name=sched),
        render(CHECKPOINT_TEMPLATE, flags),
        render(EVAL_TEMPLATE, flags, **eval_subs, **shape_subs),
        render(
            MAIN_TEMPLATE,
            flags,
            loader_device=data_subs(data)["loader_device"],
            data_path=py_str(data.path),
            synthetic_size=data.synthetic_size,
            epochs=spec.epochs,
            max_steps=spec.max_steps,
            seed=spec.seed,
            device=spec.device,
            batch_size=data.loader.batch_size,
            grad_accum_steps=spec.grad_accum_steps,
            lr=spec.optimizer.lr,
            weight_decay=spec.optimizer.weight_decay,
            clip_grad_norm=spec.clip_grad_norm,
            num_workers=data.loader.num_workers,
            val_fraction=data.val_fraction,
            test_fraction=data.test_fraction,
            log_interval=spec.log_interval,
            eval_interval=spec.eval_interval,
            checkpoint_every=ck.every_steps,
            patience=spec.early_stopping_patience,
            compile=spec.compile,
            model_ctor=model_ctor(spec),
            **shape_subs,
        ),
    ]
    code = assemble(parts)
    return code, train_rationale(spec)


def train_rationale(spec: TrainLoopSpec) -> list[str]:
    data = spec.dataset
    notes = [
        "Seeds python and torch RNGs (--seed); same seed + same --num-threads gives bit-identical CPU losses.",
        "Device-agnostic: --device auto picks CUDA, then MPS, then CPU; batches move with non_blocking=True.",
    ]
    opt = spec.optimizer
    notes.append(
        f"{opt.name} (lr {opt.lr}, weight decay {opt.weight_decay} on weight matrices only); "
        + (
            f"{spec.scheduler.name} schedule with {spec.scheduler.warmup_ratio:.0%} linear warm-up."
            if spec.scheduler.name != "none"
            else "constant LR (no scheduler)."
        )
    )
    notes.append("No decay on biases, norm parameters and embeddings: " + CHOICES.why("weight_decay_excludes"))
    if spec.amp == "bf16":
        notes.append(
            "bf16 autocast needs no GradScaler; the program warns on CPUs (slow without AMX) and on GPUs that only "
            "emulate bf16 (is_bf16_supported(including_emulation=False) is False)."
        )
    elif spec.amp == "fp16":
        notes.append("fp16 autocast with GradScaler; gradients are unscaled before clipping.")
    if spec.clip_grad_norm is not None:
        notes.append(f"Gradient norm clipped at {spec.clip_grad_norm} (norm logged).")
    if spec.grad_accum_steps > 1:
        notes.append(
            f"{spec.grad_accum_steps} micro-batches per optimizer step; the loss is divided accordingly"
            + ("; DDP skips the all-reduce on all but the last (no_sync)." if spec.ddp else ".")
        )
    notes.append(
        f"model.eval() + torch.{CHOICES.eval_grad_mode}() for evaluation, model.train() right after; loss is kept "
        "on device and synced with .item() only at log steps."
    )
    if spec.amp != "none" and CHOICES.eval_autocast:
        notes.append("Evaluation runs under the training autocast: " + CHOICES.why("eval_autocast"))
    ck = spec.checkpoint
    saved = [
        name
        for name, on in (
            ("optimizer", ck.save_optimizer),
            ("scheduler", ck.save_scheduler and spec.scheduler.name != "none"),
            ("GradScaler", ck.save_scaler and spec.use_scaler),
            ("EMA", spec.ema_decay is not None),
            ("every RNG state", ck.save_rng),
        )
        if on
    ]
    notes.append(
        f"Checkpoints hold the model, {', '.join(saved)}, step/epoch/batch position and best metric; "
        + ("written atomically (temp file + os.replace), " if ck.atomic else "written in place (atomic=false), ")
        + f"newest {ck.keep_last_n} kept, loaded with weights_only=True and map_location='cpu'."
        + ("" if ck.resumable else " Not resumable exactly (resumable=false): --resume is a warm start.")
    )
    if spec.checkpoint.save_best:
        notes.append("best.pt keeps the best weights by validation loss (weights only: an export, not a resume point).")
    if data.test_fraction > 0:
        notes.append(
            f"{data.test_fraction:.0%} of the data is held out as a test split, evaluated once after training"
            + (" with best.pt's weights." if spec.checkpoint.save_best else " with the final weights.")
        )
    if spec.early_stopping_patience:
        notes.append(f"Early stopping after {spec.early_stopping_patience} evaluations without improvement.")
    if spec.ema_decay:
        notes.append(
            f"EMA of weights and buffers (decay {spec.ema_decay}) is what evaluation, best.pt and early stopping "
            "follow; its decay warms up as min(decay, (1 + n) / (10 + n)), so early averages track the model."
        )
    if spec.ddp:
        notes.append(
            "DDP under torchrun (NCCL on CUDA, gloo on CPU): data sharded per rank, only rank 0 writes, "
            "eval sums all-reduced, per-rank RNG states gathered into checkpoints. BatchNorm is not synced "
            "(use nn.SyncBatchNorm.convert_sync_batchnorm for small per-GPU batches)."
        )
    if spec.compile:
        notes.append(
            "torch.compile is on by default (--no-compile to skip); expect 12-120 s of cold compile (2-core CPU box)."
        )
    else:
        notes.append(
            "torch.compile is off by default (cold compile costs 12-120 s on a 2-core CPU box); --compile turns it on."
        )
    notes.append(
        "--stop-at-step N checkpoints and exits early; --resume continues from the newest checkpoint with the "
        "same LR schedule (--max-steps sets its length), giving the same losses as an uninterrupted run."
    )
    notes.append("metrics.jsonl in --output-dir gets one JSON line per logged step and per evaluation.")
    return notes + data_rationale(data, spec.batch_norm, spec.compile)


DATASET_MAIN = '''
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-path", default=$data_path)
    parser.add_argument("--synthetic-data", action="store_true", help="random data of the right shapes")
    parser.add_argument("--synthetic-size", type=int, default=$synthetic_size)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=$batch_size)
    parser.add_argument("--num-workers", type=int, default=$num_workers)
    parser.add_argument("--val-fraction", type=float, default=$val_fraction)
    parser.add_argument("--test-fraction", type=float, default=$test_fraction)
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training loader")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the loaders and time one pass: a quick check of shapes and loading speed."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    if args.device != "auto":
        device = torch.device(args.device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set, val_set, test_set = build_datasets(args)
    train_loader = build_loader(train_set, args, ${loader_device}train=True)
    for name, dataset in (("train", train_set), ("val", val_set), ("test", test_set)):
        print(f"{name}: {0 if dataset is None else len(dataset)} samples")
    for epoch in range(args.epochs):
        train_loader.batch_sampler.set_epoch(epoch)
        start = time.perf_counter()
        for index, (inputs, targets) in enumerate(train_loader):
            inputs = inputs.to(device, non_blocking=True)  # $input_shape
            targets = targets.to(device, non_blocking=True)  # $target_shape
            if index == 0:
                print(f"batch: inputs {tuple(inputs.shape)} {inputs.dtype}, targets {tuple(targets.shape)}")
        seconds = time.perf_counter() - start
        print(f"epoch {epoch}: {len(train_loader)} batches in {seconds:.3f} s")


if __name__ == "__main__":
    main()
'''


def build_dataset(spec: DatasetSpec) -> tuple[str, list[str]]:
    bn = spec.has_batch_norm(None)
    flags = data_flags(spec, bn, ddp=False, has_test=True)  # a dataset module exposes every split
    kind = _input_kind(spec)
    key = "tabular_regression" if (kind == "tabular" and spec.task == "regression") else kind
    input_shape, target_shape, _ = SHAPES[key]
    consts = ["# ----------------------------------------------------------------------------- configuration"]
    consts.append("# Shapes of the data (edit to match yours; --synthetic-data uses them too).")
    consts += shape_constants(spec)
    dl = drop_last(spec, bn)
    consts.append(f"DROP_LAST = {dl}  # training loader" + ("; keep True if the model has BatchNorm" if dl else ""))
    usage = [
        "python dataset.py --synthetic-data          # shapes and loading speed on random data",
        f"python dataset.py --data-path {shell_path(spec.path)}",
        "from dataset import build_datasets, build_loader   # in a training script",
    ]
    parts = [
        header(
            f"Datasets and loaders for {spec.task.replace('_', ' ')} on {spec.resolved_source.replace('_', ' ')} data.",
            usage,
        ),
        imports(
            csv=spec.resolved_source in ("csv", "file_list"),
            subset=spec.resolved_source == "image_folder",
            ddp=False,
            contextlib_=False,
            warnings_=False,
            ema=False,
            json_=False,
            time_=True,
            functional=False,
        ),
        "\n".join(consts),
        render(DATA_TEMPLATE, flags, **data_subs(spec)),
        render(
            DATASET_MAIN,
            {},
            loader_device=data_subs(spec)["loader_device"],
            data_path=py_str(spec.path),
            synthetic_size=spec.synthetic_size,
            batch_size=spec.loader.batch_size,
            num_workers=spec.loader.num_workers,
            val_fraction=spec.val_fraction,
            test_fraction=spec.test_fraction,
            input_shape=input_shape,
            target_shape=target_shape,
        ),
    ]
    code = assemble(parts)
    return code, data_rationale(spec, bn)


CHECKPOINT_MAIN = '''
def main() -> None:
    """Self-check: train a tiny model, save, reload into fresh objects, and compare."""
    torch.manual_seed(0)
    random.seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    inputs = torch.randn(32, 8, device=device)  # (B, 8)
    targets = torch.randn(32, 1, device=device)  # (B, 1)
    output_dir = Path(tempfile.mkdtemp())
    for step in range(1, 6):
        loss = F.mse_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        state = {
            "model": model.state_dict(),
@@save_optimizer@@             "optimizer": optimizer.state_dict(),
@@save_scheduler@@             "scheduler": scheduler.state_dict(),
            "step": step,
@@save_rng@@             "rng": [capture_rng_state()],
        }
        save_checkpoint(state, output_dir, step)
@@save_rng@@     expected_next = torch.rand(3)  # the draw a resumed run must reproduce

    checkpoint = load_checkpoint(sorted(output_dir.glob("ckpt_step*.pt"))[-1])  # the newest
    restored = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1)).to(device)
    restored.load_state_dict(checkpoint["model"])
@@if save_optimizer@@
    restored_optimizer = torch.optim.AdamW(restored.parameters(), lr=1e-2)
    restored_optimizer.load_state_dict(checkpoint["optimizer"])
@@if save_scheduler@@
    restored_scheduler = torch.optim.lr_scheduler.StepLR(restored_optimizer, step_size=2)
    restored_scheduler.load_state_dict(checkpoint["scheduler"])
    assert restored_scheduler.get_last_lr() == scheduler.get_last_lr(), "scheduler state not restored"
@@end@@
@@end@@
@@if save_rng@@
    restore_rng_state(checkpoint["rng"][0])
    assert torch.equal(torch.rand(3), expected_next), "RNG state not restored"
@@end@@
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, restored.state_dict()[name]), name
    kept = sorted(p.name for p in output_dir.glob("ckpt_step*.pt"))
    print(f"ok: step {checkpoint['step']} restored exactly; kept {kept}")


if __name__ == "__main__":
    main()
'''


def build_checkpoint(spec: CheckpointSpec) -> tuple[str, list[str]]:
    flags = {
        "atomic": spec.atomic,
        "save_optimizer": spec.save_optimizer,
        "save_scheduler": spec.save_scheduler,
        "save_rng": spec.save_rng,
    }
    usage = [
        "python checkpointing.py                      # self-check: save, reload, compare",
        "from checkpointing import save_checkpoint, load_checkpoint, capture_rng_state, restore_rng_state",
    ]
    consts = [f"KEEP_LAST_CHECKPOINTS = {spec.keep_last_n}"]
    parts = [
        header("Checkpoint helpers: full training state, atomic writes, keep-last-N, safe loading.", usage),
        "\n".join(
            [
                "from __future__ import annotations",
                "",
                "import os",
                "import random",
                "import tempfile",
                "from pathlib import Path",
                "",
                "import torch",
                "import torch.nn as nn",
                "import torch.nn.functional as F",
            ]
        ),
        "\n".join(consts),
        render(CHECKPOINT_TEMPLATE, flags),
        render(CHECKPOINT_MAIN, flags),
    ]
    code = assemble(parts)
    saved = ["model"] + [
        name
        for name, on in (
            ("optimizer", spec.save_optimizer),
            ("scheduler", spec.save_scheduler),
            ("scaler", spec.save_scaler),
            ("RNG states (python, torch, CUDA)", spec.save_rng),
        )
        if on
    ]
    notes = [
        f"A checkpoint holds {', '.join(saved)} plus step/epoch and the batch position within the epoch.",
        "Writes go to a temp file then os.replace: a crash mid-save never leaves a truncated file."
        if spec.atomic
        else "Writes are not atomic (atomic=false): a crash mid-save can leave a truncated file.",
        f"Only the newest {spec.keep_last_n} ckpt_step*.pt files are kept.",
        "torch.load(weights_only=True, map_location='cpu'): no arbitrary unpickling; GPU checkpoints load on CPU.",
        "numpy's RNG is not saved: the generated code does not draw from it (add np.random state if yours does).",
    ]
    if spec.save_best:
        notes.append("Best-model exports are weights only; resume points are full checkpoints.")
    return code, notes
