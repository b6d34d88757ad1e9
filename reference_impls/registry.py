"""The catalogue of reference implementations. Importing this module does not import torch."""

from __future__ import annotations

import ast
import importlib
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Literal

from pydantic import BaseModel

IMPLS_DIR = Path(__file__).resolve().parent / "impls"

TaskKind = Literal["classification", "regression", "language-modeling", "representation-learning"]


class ImplInfo(BaseModel):
    name: str
    summary: str  # the first line of the module docstring
    module: str  # importable module name
    path: Path  # the source file
    task_kind: TaskKind
    amp_modes: list[str]  # the --amp values it accepts
    supports_compile: bool
    default_steps: int


class UnknownImplError(ValueError):
    def __init__(self, name: str) -> None:
        names = ", ".join(i.name for i in list_impls())
        super().__init__(f"unknown reference implementation {name!r}; available: {names}")
        self.name = name


_ALL_AMP = ["none", "bf16", "fp16"]

# name -> (task kind, amp modes, supports compile, default smoke steps)
_CATALOGUE: dict[str, tuple[TaskKind, list[str], bool, int]] = {
    "mlp_tabular": ("classification", _ALL_AMP, True, 200),
    "cnn_image": ("classification", _ALL_AMP, True, 120),
    "char_lm": ("language-modeling", _ALL_AMP, True, 100),
    "seq_classify": ("classification", _ALL_AMP, False, 120),
    "regression_warmup": ("regression", _ALL_AMP, True, 200),
    "autoencoder": ("representation-learning", _ALL_AMP, True, 200),
    "finetune_frozen": ("classification", _ALL_AMP, True, 100),
    "mixed_precision": ("classification", ["auto", *_ALL_AMP], True, 60),
    "ddp_cpu": ("classification", ["none"], False, 60),
    "compiled_mlp": ("classification", _ALL_AMP, True, 100),
}


def docstring_summary(path: Path) -> str:
    """The first sentence of the module docstring's first paragraph, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    sentence_end = paragraph.find(". ")
    return paragraph if sentence_end < 0 else paragraph[:sentence_end + 1]


@lru_cache(maxsize=1)
def _build() -> tuple[ImplInfo, ...]:
    infos = []
    for name, (kind, amp_modes, compiles, steps) in _CATALOGUE.items():
        path = IMPLS_DIR / f"{name}.py"
        infos.append(ImplInfo(name=name, summary=docstring_summary(path), module=f"pytorch_patterns.reference_impls.impls.{name}", path=path,
                              task_kind=kind, amp_modes=amp_modes, supports_compile=compiles, default_steps=steps))
    return tuple(infos)


def list_impls() -> list[ImplInfo]:
    return list(_build())


def get_impl(name: str) -> ImplInfo:
    for info in _build():
        if info.name == name:
            return info
    raise UnknownImplError(name)


def source_path(name: str) -> Path:
    return get_impl(name).path


def load_module(name: str) -> ModuleType:
    """Import the implementation (this imports torch)."""
    return importlib.import_module(get_impl(name).module)
