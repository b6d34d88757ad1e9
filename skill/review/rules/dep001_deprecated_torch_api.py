"""PT-DEP001 deprecated-torch-api."""

from __future__ import annotations

import ast

from ..analysis import Context
from ..models import Severity
from ..rule import Rule, replace_node
from ..semantics import calls_of
from .amp003_deprecated_cuda_amp_namespace import in_version_fallback

# qualified name -> advice. torch.norm is deprecated too but everywhere and still supported: not flagged.
DEPRECATED = {
    "torch.solve": "removed; use `torch.linalg.solve(A, B)` (argument order and return value differ)",
    "torch.symeig": "removed; use `torch.linalg.eigh`",
    "torch.eig": "removed; use `torch.linalg.eig`",
    "torch.lstsq": "removed; use `torch.linalg.lstsq(A, B)` (argument order differs)",
    "torch.matrix_rank": "removed; use `torch.linalg.matrix_rank`",
    "torch.cholesky": "deprecated; use `torch.linalg.cholesky`",
    "torch.qr": "deprecated; use `torch.linalg.qr`",
    "torch.svd": "deprecated; use `torch.linalg.svd` (returns Vh, not V; full_matrices instead of some)",
    "torch.lu": "deprecated; use `torch.linalg.lu_factor`",
    "torch.lu_solve": "deprecated; use `torch.linalg.lu_solve(LU, pivots, B)` (argument order differs)",
    "torch.triangular_solve": "deprecated; use `torch.linalg.solve_triangular`",
    "torch.ger": "deprecated; use `torch.outer`",
    "torch.range": "deprecated; use `torch.arange` (whose end is exclusive)",
    "torch.chain_matmul": "deprecated; use `torch.linalg.multi_dot`",
    "torch.nn.utils.weight_norm": "deprecated; use `torch.nn.utils.parametrizations.weight_norm`",
    "torch.nn.utils.weight_norm.weight_norm": "deprecated; use `torch.nn.utils.parametrizations.weight_norm`",
    "torch.backends.cuda.sdp_kernel": "deprecated; use `torch.nn.attention.sdpa_kernel`",
    "torch.nn.UpsamplingNearest2d": "deprecated; use `nn.Upsample(mode='nearest')`",
    "torch.nn.UpsamplingBilinear2d": "deprecated; use `nn.Upsample(mode='bilinear', align_corners=True)`",
    "torch.testing.assert_allclose": "deprecated; use `torch.testing.assert_close`",
    "torch.nn.utils.clip_grad_norm": "deprecated; use `torch.nn.utils.clip_grad_norm_`",
    "torch.nn.utils.clip_grad.clip_grad_norm": "deprecated; use `torch.nn.utils.clip_grad_norm_`",
}
DEPRECATED_NAMES = frozenset(DEPRECATED)

# Mechanical replacements: (module the callee is read from, new attribute path, allowed call shape).
# Only where the new function takes the same arguments and returns the same thing.
MECHANICAL = {
    "torch.cholesky": ("torch", "linalg.cholesky", "one-positional"),  # `upper` is keyword-only in linalg
    "torch.qr": ("torch", "linalg.qr", "one-positional-only"),  # `some=` became `mode=`
    "torch.ger": ("torch", "outer", "any"),
    "torch.nn.utils.clip_grad_norm": ("torch.nn.utils", "clip_grad_norm_", "any"),
}


class DeprecatedTorchApi(Rule):
    code = "PT-DEP001"
    name = "deprecated-torch-api"
    severity = Severity.medium
    summary = "Deprecated or removed torch API"
    why = (
        "Deprecated functions are being removed (torch.solve, symeig, lstsq, eig and matrix_rank already "
        "raise); some warn once, others such as torch.svd, torch.ger and nn.UpsamplingNearest2d do not warn at "
        "all, so nothing tells you before they go. Their torch.linalg replacements are faster, batched and "
        "NumPy-compatible, but some differ in argument order or return convention."
    )
    fix_text = "Switch to the torch.linalg / torch.nn.utils replacement named in the message."
    bad = "import torch\n\nA = torch.eye(3)\nL = torch.cholesky(A)\n"
    good = "import torch\n\nA = torch.eye(3)\nL = torch.linalg.cholesky(A)\n"
    fix_applicability = "safe"

    def check(self, ctx: Context):
        for call in calls_of(ctx, DEPRECATED_NAMES):
            q = ctx.call_qualname(call) or ""
            if in_version_fallback(ctx, call):
                continue  # the old-torch branch of `if hasattr(torch, "linalg"):` / `except AttributeError:`
            yield self.report(ctx, call, f"`{q}` is {DEPRECATED[q]}", fix=self._fix(ctx, call, q))
        if not _imports_functorch(ctx):
            return
        for call in ctx.calls(*FUNCTORCH_NAMES):
            q = ctx.call_qualname(call) or ""
            if q.startswith("functorch."):
                yield self.report(ctx, call, f"`{q}` is deprecated; functorch moved into `torch.func`")

    def _fix(self, ctx: Context, call: ast.Call, q: str):
        spec = MECHANICAL.get(q)
        if spec is None or not isinstance(call.func, ast.Attribute):
            return None
        module, new_path, shape = spec
        if ctx.qualname(call.func.value) != module:
            return None  # from-imported name: the replacement would need a new import
        if shape == "one-positional" and (
            len(call.args) != 1
            or isinstance(call.args[0], ast.Starred)
            or any(kw.arg not in {"upper", "out"} for kw in call.keywords)
        ):
            return None
        if shape == "one-positional-only" and (
            len(call.args) != 1 or isinstance(call.args[0], ast.Starred) or call.keywords
        ):
            return None
        new = f"{ctx.segment(call.func.value)}.{new_path}"
        if not new or new.startswith("."):
            return None
        return self.make_fix(f"use `{new}`", [replace_node(ctx, call.func, new)])


FUNCTORCH_NAMES = {"vmap", "grad", "grad_and_value", "jacrev", "jacfwd", "hessian", "vjp", "jvp", "make_functional", "make_functional_with_buffers", "functionalize", "combine_state_for_ensemble"}


def _imports_functorch(ctx: Context) -> bool:
    return any(q == "functorch" or q.startswith("functorch.") for q in ctx.imports.values())
