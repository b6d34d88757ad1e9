"""The generators' public API (re-exported lazily by the package: see __init__)."""

from __future__ import annotations

import ast
from typing import Any

from pydantic import BaseModel, ValidationError

from .build import build_checkpoint, build_dataset, build_train_loop
from .specs import (
    CheckpointSpec,
    DatasetSpec,
    LoaderSpec,
    ModelSpec,
    OptimizerSpec,
    SchedulerSpec,
    SpecError,
    TrainLoopSpec,
)

__all__ = [
    "CheckpointSpec",
    "DatasetSpec",
    "GeneratedCode",
    "LoaderSpec",
    "ModelSpec",
    "OptimizerSpec",
    "SchedulerSpec",
    "SpecError",
    "TrainLoopSpec",
    "generate",
    "generate_checkpoint",
    "generate_dataset",
    "generate_train_loop",
    "parse_spec",
    "spec_error_message",
]


class GeneratedCode(BaseModel):
    code: str
    filename: str
    rationale: list[str]
    spec: dict


def _coerce(spec_cls: type[BaseModel], spec: BaseModel | dict | None) -> Any:
    if spec is None:
        return spec_cls()
    if isinstance(spec, spec_cls):
        return spec
    if isinstance(spec, BaseModel):
        spec = spec.model_dump()
    return spec_cls.model_validate(spec)


def _finish(code: str, filename: str, rationale: list[str], spec: BaseModel) -> GeneratedCode:
    ast.parse(code, filename=filename)  # a template bug must never reach the user as broken code
    return GeneratedCode(code=code, filename=filename, rationale=rationale, spec=spec.model_dump(mode="json"))


def generate_train_loop(spec: TrainLoopSpec | dict | None = None) -> GeneratedCode:
    spec = _coerce(TrainLoopSpec, spec)
    code, rationale = build_train_loop(spec)
    return _finish(code, "train.py", rationale, spec)


def generate_dataset(spec: DatasetSpec | dict | None = None) -> GeneratedCode:
    spec = _coerce(DatasetSpec, spec)
    code, rationale = build_dataset(spec)
    return _finish(code, "dataset.py", rationale, spec)


def generate_checkpoint(spec: CheckpointSpec | dict | None = None) -> GeneratedCode:
    spec = _coerce(CheckpointSpec, spec)
    code, rationale = build_checkpoint(spec)
    return _finish(code, "checkpointing.py", rationale, spec)


GENERATORS = {
    "train-loop": (TrainLoopSpec, generate_train_loop),
    "dataset": (DatasetSpec, generate_dataset),
    "checkpoint": (CheckpointSpec, generate_checkpoint),
}


def parse_spec(kind: str, data: dict) -> BaseModel:
    """Validate a spec dict for `kind` (train-loop, dataset, checkpoint); raises ValidationError."""
    return GENERATORS[kind][0].model_validate(data)


def generate(kind: str, spec: BaseModel | dict | None = None) -> GeneratedCode:
    return GENERATORS[kind][1](spec)


def spec_error_message(exc: ValidationError | SpecError) -> str:
    """One line per problem: `field: problem Fix: ...`, the field dotted from the spec root."""
    if isinstance(exc, SpecError):
        return str(exc)
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, SpecError):
            field = ".".join(loc + [ctx_error.field]) if loc else ctx_error.field
            lines.append(f"{field}: {ctx_error.problem} Fix: {ctx_error.fix}")
            continue
        field = ".".join(loc) or "(spec)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            fix = "remove it (check the spelling; see the spec's fields)."
        elif err["type"] == "literal_error":
            fix = f"use {err.get('ctx', {}).get('expected', 'an allowed value')}."
        else:
            fix = "give a valid value."
        lines.append(f"{field}: {msg}. Fix: {fix}")
    return "\n".join(lines)
