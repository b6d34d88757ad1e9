"""Canonical PyTorch reference implementations and the sandboxed runner that executes them.

- `reference_impls.impls.*`: ten short training scripts sharing one interface (see `reference_impls.common`).
- `reference_impls.registry`: the catalogue (`list_impls`, `get_impl`, `source_path`).
- `reference_impls.sandbox`: `run_child`, a child-process runner with timeout, memory cap and output cap.
- `reference_impls.runner`: `run_reference(name, RunOptions) -> RunReport`.
- `reference_impls.compare`: KernelBench-style correctness + speed-up of a candidate against a reference.

Importing this package (or registry, sandbox, runner, compare) does not import torch.
"""
