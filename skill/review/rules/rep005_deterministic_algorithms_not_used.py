"""PT-REP005 deterministic-algorithms-not-used (opt-in)."""

from __future__ import annotations

from ..analysis import Context
from ..models import Severity
from ..rule import Rule
from .rep003_benchmark_with_determinism import cudnn_flag_assignments


class DeterministicAlgorithmsNotUsed(Rule):
    code = "PT-REP005"
    name = "deterministic-algorithms-not-used"
    severity = Severity.info
    summary = "Determinism is requested via `cudnn.deterministic = True` but `torch.use_deterministic_algorithms(True)` is never called"
    why = (
        "`cudnn.deterministic` only covers cuDNN convolutions; index_add, scatter, embedding backward and "
        "other CUDA kernels stay non-deterministic. Only `torch.use_deterministic_algorithms(True)` "
        "makes every op deterministic or raise. It slows training, so use it for debugging runs."
    )
    fix_text = (
        "For debugging runs add `torch.use_deterministic_algorithms(True)` (and set "
        "CUBLAS_WORKSPACE_CONFIG=:4096:8 on CUDA)."
    )
    bad = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "torch.backends.cudnn.deterministic = True\n"
        "torch.backends.cudnn.benchmark = False\n"
    )
    good = (
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "torch.use_deterministic_algorithms(True)\n"
        "torch.backends.cudnn.benchmark = False\n"
    )
    default_enabled = False  # a debugging aid, not a defect in production training

    def check(self, ctx: Context):
        if "deterministic" not in ctx.source:
            return
        if ctx.calls("use_deterministic_algorithms", "set_deterministic", "set_deterministic_debug_mode"):
            return
        for stmt, value in cudnn_flag_assignments(ctx, "deterministic"):
            if value is True:
                yield self.report(ctx, stmt)
                return
