"""Shared set-up for the reference implementation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # pytest -n 2 runs two workers on two cores: more intra-op threads would oversubscribe them (OpenMP threads
    # spinning on busy cores run many times slower). Thread count is fixed per process, so determinism holds.
    import torch

    torch.set_num_threads(1)
    yield
