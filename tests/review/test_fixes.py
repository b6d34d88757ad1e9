"""Autofixes: the fixed code parses, the rule no longer fires, a second pass changes nothing, and the
fixed code computes what the original computed (checked by running both with torch on CPU)."""

from __future__ import annotations

import ast
import textwrap
import warnings

import pytest

from pytorch_patterns.skill.review import fix_source, review_source

# (rule, source, text the fixed source must contain)
CASES = [
    (
        "PT-AMP003",
        """
        import torch
        scaler = torch.cuda.amp.GradScaler()
        """,
        'scaler = torch.amp.GradScaler("cuda")',
    ),
    (
        "PT-AMP003",
        """
        import torch
        scaler = torch.cuda.amp.GradScaler(
            init_scale=1024.0,
        )
        """,
        'torch.amp.GradScaler("cuda", \n    init_scale=1024.0,\n)',
    ),
    (
        "PT-AMP003",
        """
        import torch
        with torch.cuda.amp.autocast(enabled=True, dtype=torch.bfloat16):
            pass
        """,
        'with torch.autocast("cuda", enabled=True, dtype=torch.bfloat16):',
    ),
    (
        "PT-AMP003",
        """
        import torch as th
        from torch.cuda.amp import autocast
        with autocast():
            pass
        with th.cpu.amp.autocast():
            pass
        """,
        'with th.autocast("cuda"):\n    pass\nwith th.autocast("cpu"):',
    ),
    (
        "PT-AMP003",
        """
        import torch

        class F(torch.autograd.Function):
            @staticmethod
            @torch.cuda.amp.custom_fwd(cast_inputs=torch.float32)
            def forward(ctx, x):
                return x

            @staticmethod
            @torch.cuda.amp.custom_bwd
            def backward(ctx, g):
                return g
        """,
        '@torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)',
    ),
    (
        "PT-API001",
        """
        from torch.utils.checkpoint import checkpoint
        def f(block, x):
            return checkpoint(
                block,
                x,
            )
        """,
        "x, use_reentrant=False,\n",
    ),
    (
        "PT-API001",
        """
        import torch
        y = torch.utils.checkpoint.checkpoint(fn, x, preserve_rng_state=False)
        """,
        "checkpoint(fn, x, preserve_rng_state=False, use_reentrant=False)",
    ),
    (
        "PT-DEP001",
        """
        import torch
        import torch.nn as nn
        L = torch.cholesky(A)
        o = torch.ger(a, b)
        Q, R = torch.qr(A)
        nn.utils.clip_grad_norm(model.parameters(), 1.0)
        """,
        "L = torch.linalg.cholesky(A)\no = torch.outer(a, b)\nQ, R = torch.linalg.qr(A)\n"
        "nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
    ),
    (
        "PT-DEP003",
        """
        from torchvision import models
        m = models.resnet18(pretrained=False, num_classes=10)
        """,
        "models.resnet18(weights=None, num_classes=10)",
    ),
    (
        "PT-DEP004",
        """
        import torch
        from torch.utils.data._utils.collate import default_collate, default_convert as conv
        b = torch.utils.data._utils.collate.default_collate([1])
        """,
        "from torch.utils.data import default_collate, default_convert as conv\n"
        "b = torch.utils.data.default_collate([1])",
    ),
    (
        "PT-STYLE001",
        """
        import torchvision.models as models
        import torchvision.transforms as transforms  # augmentations
        """,
        "from torchvision import models\nfrom torchvision import transforms  # augmentations",
    ),
]


@pytest.mark.parametrize(("code", "source", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_fix_applies_once_and_silences_rule(code: str, source: str, expected: str) -> None:
    source = textwrap.dedent(source).lstrip()
    assert review_source(source, select=[code]), "the case must trigger the rule"
    fixed, applied, remaining = fix_source(source, select=[code])
    assert applied >= 1
    assert expected in fixed, fixed
    ast.parse(fixed)
    assert [f for f in remaining if f.rule == code] == []
    again, applied_again, _ = fix_source(fixed, select=[code])
    assert (again, applied_again) == (fixed, 0)


NOT_MECHANICAL = [
    # positional arguments of the old class would land on different parameters of torch.autocast
    ("PT-AMP003", "import torch\nwith torch.cuda.amp.autocast(True):\n    pass\n"),
    # the name was from-imported and torch itself is not imported: no safe spelling of the new name
    ("PT-AMP003", "from torch.cuda.amp import GradScaler\nscaler = GradScaler()\n"),
    # different return conventions / argument order: finding only
    ("PT-DEP001", "import torch\nU, S, V = torch.svd(A)\n"),
    ("PT-DEP001", "import torch\nx = torch.range(0, 5)\n"),
    ("PT-DEP001", "import torch\nL = torch.cholesky(A, True)\n"),  # `upper` is keyword-only in linalg
    ("PT-DEP001", "from torch import cholesky\nL = cholesky(A)\n"),
    # pretrained=True maps to a model-specific weight set
    ("PT-DEP003", "from torchvision import models\nm = models.resnet50(pretrained=True)\n"),
    ("PT-STYLE001", "import torchvision.models as models, os\n"),
]


@pytest.mark.parametrize(("code", "source"), NOT_MECHANICAL, ids=[f"{c[0]}-{i}" for i, c in enumerate(NOT_MECHANICAL)])
def test_no_fix_where_replacement_is_not_mechanical(code: str, source: str) -> None:
    findings = review_source(source, select=[code])
    assert findings and all(f.fix is None for f in findings)
    fixed, applied, _ = fix_source(source, select=[code])
    assert (fixed, applied) == (source, 0)


RUNNABLE = """
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

torch.manual_seed(0)
A = torch.randn(4, 4, dtype=torch.float64)
A = A @ A.T + 4 * torch.eye(4, dtype=torch.float64)
L = torch.cholesky(A)
o = torch.ger(torch.arange(3.0), torch.arange(2.0))
Q, R = torch.qr(A)
model = nn.Linear(4, 2)
model(torch.randn(3, 4)).pow(2).sum().backward()
norm = nn.utils.clip_grad_norm(model.parameters(), 0.5)
grads = [p.grad.clone() for p in model.parameters()]
layer = nn.Linear(4, 4)
x = torch.randn(2, 4, requires_grad=True)
y = checkpoint(layer, x)
y.sum().backward()
ckpt_grad = layer.weight.grad.clone()
with torch.cpu.amp.autocast(dtype=torch.bfloat16):
    z = layer(torch.randn(2, 4))
batch = torch.utils.data._utils.collate.default_collate([torch.zeros(2), torch.ones(2)])
RESULT = [L, o, Q, R, norm, *grads, ckpt_grad, z.dtype, batch]
"""


def _run(source: str) -> list:
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(source, "<fixture>", "exec"), namespace)  # noqa: S102 -- our own snippet
    return namespace["RESULT"]


def test_fixed_code_computes_the_same() -> None:
    torch = pytest.importorskip("torch")
    codes = ["PT-DEP001", "PT-API001", "PT-AMP003", "PT-DEP004"]
    fixed, applied, remaining = fix_source(RUNNABLE, select=codes)
    assert applied >= 7
    assert "torch.cholesky(" not in fixed and "torch.autocast(\"cpu\"" in fixed
    assert [f for f in remaining if f.rule in codes] == []
    before, after = _run(RUNNABLE), _run(fixed)
    for a, b in zip(before, after, strict=True):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        else:
            assert a == b
