"""PT-DATA001 dataloader-num-workers-0."""

from __future__ import annotations

from ..analysis import Context, const_value, has_star_kwargs, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import dataloader_calls, dataset_does_io, loader_dataset, resolve_value

# torchvision datasets held in memory as one small uint8 array: per item only a 28x28 PIL wrap and a cheap
# transform; worker processes cost more to start than they save.
IN_MEMORY_DATASETS = {"MNIST", "FashionMNIST", "KMNIST", "EMNIST", "QMNIST"}


class DataLoaderNumWorkers0(Rule):
    code = "PT-DATA001"
    name = "dataloader-num-workers-0"
    severity = Severity.medium
    summary = "DataLoader without worker processes over a dataset that reads/decodes/augments per item"
    why = (
        "With num_workers=0 (the default) every file read, image decode and augmentation runs in the training "
        "process between steps, so the accelerator idles while the next batch is prepared."
    )
    fix_text = (
        "Give the loader workers: `DataLoader(ds, ..., num_workers=N, pin_memory=(device.type == 'cuda'), "
        "persistent_workers=True)` "
        "(N about the number of CPU cores per GPU). In-memory TensorDatasets do not need them."
    )
    bad = "loader = DataLoader(ImageFolder(root, tf), batch_size=64, shuffle=True)\n"
    good = (
        "g = torch.Generator().manual_seed(0)\n"
        "loader = DataLoader(ImageFolder(root, tf), batch_size=64, shuffle=True, num_workers=8,\n"
        "                    pin_memory=(device.type == 'cuda'), persistent_workers=True, generator=g)\n"
    )

    def check(self, ctx: Context):
        if ".ipynb" in ctx.filename:
            return  # notebooks: worker processes need importable datasets (and fail on Windows/macOS spawn)
        base = ctx.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if base.startswith("test_") or base.endswith("_test.py") or base == "conftest.py":
            return  # unit tests use tiny datasets on purpose
        for call in dataloader_calls(ctx):
            if has_star_kwargs(call):
                continue
            workers = kwarg_value(call, "num_workers")
            if workers is not None and const_value(workers) != 0:
                continue
            ds = loader_dataset(call)
            if ds is None or not dataset_does_io(ctx, ds) or _small_in_memory(ctx, ds):
                continue
            yield self.report(ctx, call)


def _small_in_memory(ctx: Context, ds) -> bool:
    import ast

    value = resolve_value(ctx, ds)
    if not isinstance(value, ast.Call):
        return False
    return (ctx.call_qualname(value) or "").rsplit(".", 1)[-1] in IN_MEMORY_DATASETS
