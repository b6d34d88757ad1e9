"""Code generators: specs in, complete runnable PyTorch programs out (text only; no torch import here).

from pytorch_patterns.skill.generate import generate_train_loop, TrainLoopSpec
result = generate_train_loop(TrainLoopSpec(task="regression", amp="bf16"))
result.code, result.filename, result.rationale
"""

from __future__ import annotations

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

def __getattr__(name: str):
    """The API loads on first use: `choices` (shared with the torch programs) imports without pydantic or templates."""
    if name in __all__ or name == "GENERATORS":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
