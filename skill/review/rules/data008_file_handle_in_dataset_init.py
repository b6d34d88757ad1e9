"""PT-DATA008 file-handle-in-dataset-init."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import dataloader_calls
from ._api_common import num_workers_nonzero

OPENERS = {
    "open": "a file handle", "h5py.File": "an h5py file", "lmdb.open": "an LMDB environment",
    "tables.open_file": "a PyTables file", "zipfile.ZipFile": "a zip file", "tarfile.open": "a tar file",
    "io.open": "a file handle", "sqlite3.connect": "an SQLite connection", "zarr.open": None,
}
DATASET_BASES = {"Dataset", "IterableDataset", "VisionDataset"}


class FileHandleInDatasetInit(Rule):
    code = "PT-DATA008"
    name = "file-handle-in-dataset-init"
    severity = Severity.high
    summary = "A file / h5py / LMDB handle opened in `Dataset.__init__` and read in `__getitem__`"
    why = (
        "DataLoader workers are forked copies of the dataset, so they all share the one handle opened in "
        "__init__: a plain file shares its read offset (workers seek and read over each other and return "
        "mixed-up samples), h5py/HDF5 and LMDB are not fork-safe (corrupted reads, crashes, hangs), and "
        "with spawn the handle cannot be pickled at all."
    )
    fix_text = (
        "Open lazily in the worker: keep the path in __init__, and in __getitem__ do "
        "`if self.h5 is None: self.h5 = h5py.File(self.path, 'r')` (or open it in worker_init_fn)."
    )
    bad = (
        "import h5py\nfrom torch.utils.data import Dataset\n\nclass H5Dataset(Dataset):\n"
        "    def __init__(self, path):\n        self.h5 = h5py.File(path, 'r')\n\n"
        "    def __len__(self):\n        return len(self.h5['x'])\n\n"
        "    def __getitem__(self, i):\n        return self.h5['x'][i], self.h5['y'][i]\n"
    )
    good = (
        "import h5py\nfrom torch.utils.data import Dataset\n\nclass H5Dataset(Dataset):\n"
        "    def __init__(self, path):\n        self.path, self.h5 = path, None\n        with h5py.File(path, 'r') as f:\n"
        "            self.n = len(f['x'])\n\n    def __len__(self):\n        return self.n\n\n"
        "    def __getitem__(self, i):\n        if self.h5 is None:\n            self.h5 = h5py.File(self.path, 'r')\n"
        "        return self.h5['x'][i], self.h5['y'][i]\n"
    )

    def check(self, ctx: Context):
        loaders = dataloader_calls(ctx)
        if loaders and not any(num_workers_nonzero(c) for c in loaders):
            return  # this file loads in the main process only
        for cls in ctx.nodes(ast.ClassDef):
            if not any((dotted(b) or "").rsplit(".", 1)[-1] in DATASET_BASES for b in cls.bases):  # type: ignore[union-attr]
                continue
            methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}  # type: ignore[union-attr]
            init, getitem = methods.get("__init__"), methods.get("__getitem__") or methods.get("__iter__")
            if init is None or getitem is None or "__getstate__" in methods or "worker_init" in ctx.source:
                continue
            for stmt in ast.walk(init):
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, ast.Call)):
                    continue
                t = stmt.targets[0]
                if not (isinstance(t, ast.Attribute) and dotted(t.value) == "self"):
                    continue
                what = self._opener(ctx, stmt.value)
                if what is None or self._closed_in_init(init, t.attr):
                    continue
                views = self._views_of(init, t.attr)  # `self.x = self.h5["train/x"]`: reads go through the same handle
                if not any(self._read_in(getitem, a) for a in views) or self._reopened(getitem, t.attr):
                    continue
                yield self.report_at(
                    ctx, stmt.lineno, stmt.col_offset,
                    f"`self.{t.attr}` is {what} opened in `__init__` and read in `{getitem.name}`: DataLoader "
                    "workers share it across fork (interleaved or corrupted reads); open it lazily in the worker",
                )

    @staticmethod
    def _opener(ctx: Context, call: ast.Call) -> str | None:
        q = ctx.call_qualname(call) or ""
        if q == "open" or q == "builtins.open":
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
            if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and ("w" in mode.value or "a" in mode.value):
                return None  # a log file written by the main process
            return "a file handle"
        return OPENERS.get(q)

    @staticmethod
    def _views_of(init: ast.AST, attr: str) -> set[str]:
        """`attr` plus the attributes `__init__` derives from it (dataset views, sub-groups of the open file)."""
        views = {attr}
        for _ in range(3):
            for n in ast.walk(init):
                if not (isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Attribute)):
                    continue
                tgt = n.targets[0]
                if dotted(tgt.value) != "self" or tgt.attr in views:
                    continue
                if isinstance(n.value, ast.Subscript) and any(
                    isinstance(x, ast.Attribute) and x.attr in views and dotted(x.value) == "self" for x in ast.walk(n.value.value)
                ):
                    views.add(tgt.attr)
        return views

    @staticmethod
    def _closed_in_init(init: ast.AST, attr: str) -> bool:
        for n in ast.walk(init):
            if isinstance(n, ast.Call) and callee_name(n) == "close" and dotted(n.func) == f"self.{attr}.close":
                return True
        return False

    @staticmethod
    def _read_in(fn: ast.AST, attr: str) -> bool:
        return any(isinstance(n, ast.Attribute) and n.attr == attr and dotted(n.value) == "self" for n in ast.walk(fn))

    @staticmethod
    def _reopened(fn: ast.AST, attr: str) -> bool:
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and any(dotted(t) == f"self.{attr}" for t in n.targets):
                return True
        return False
