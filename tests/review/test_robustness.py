"""The reviewer never crashes, hangs or prints a traceback, whatever it is given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytorch_patterns.skill.review import SourceParseError, review_source
from pytorch_patterns.skill.review.rule import all_rules

ALL = [r.code for r in all_rules()]
CLI = [sys.executable, "-m", "pytorch_patterns"]


def review_or_error(source, filename="x.py"):
    """Either findings with sane positions, or a SourceParseError; nothing else may escape."""
    try:
        findings = review_source(source, filename, select=["ALL"])
    except SourceParseError as exc:
        assert exc.error.message
        return None
    text = source if isinstance(source, str) else source.decode("utf-8", "replace")
    n_lines = max(1, text.count("\n") + 1)
    for f in findings:
        assert 1 <= f.line <= n_lines and f.line <= f.end_line, f
        assert f.col >= 1 and f.rule in ALL
    return findings


def test_syntax_error_names_file_and_line():
    with pytest.raises(SourceParseError) as exc:
        review_source("import torch\n\ndef f(:\n    pass\n", "train.py")
    assert exc.value.error.file == "train.py"
    assert exc.value.error.line == 3
    assert "SyntaxError" in exc.value.error.message


@pytest.mark.parametrize(
    "data",
    [
        b"import torch\x00\nx = 1\n",  # null byte
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # binary
        b"x = '\xff\xfe caf\xe9'\n",  # not UTF-8, no coding cookie
        "x = '\ud800'\n",  # lone surrogate in str input
    ],
    ids=["null-bytes", "binary", "non-utf8", "surrogate"],
)
def test_garbage_gives_clear_error(data):
    with pytest.raises(SourceParseError) as exc:
        review_source(data, "junk.py")
    assert exc.value.error.file == "junk.py" and exc.value.error.message


def test_latin1_with_coding_cookie_is_reviewed():
    src = "# -*- coding: latin-1 -*-\nimport torch\nopt.zero_grad(set_to_none=False)  # caf\xe9\n".encode("latin-1")
    assert [f.rule for f in review_source(src, "x.py")] == ["PT-GRAD003"]


@pytest.mark.parametrize("source", ["", "\n\n", "# only a comment\n", "   \n\t\n", "\ufeffimport torch\n"])
def test_empty_and_trivial_files(source):
    assert review_source(source, "empty.py") == []


DEEP = 10_000


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * DEEP + "1" + ")" * DEEP + "\n",
        "x = " + "[" * DEEP + "]" * DEEP + "\n",
        "x = a" + ".b" * DEEP + "\n",
        "x = " + "-" * DEEP + "1\n",
        "x = " + " + ".join(["y"] * DEEP) + "\n",
        "x = " + "not " * DEEP + "y\n",
        "f = " + "lambda: " * DEEP + "0\n",
        "".join(" " * i + "if x:\n" for i in range(200)) + " " * 200 + "pass\n",
        "x = " + "f(" * DEEP + ")" * DEEP + "\n",
        "torch.zeros(1)" + ".cuda()" * DEEP + "\n",
    ],
    ids=["parens", "lists", "attrs", "unary", "binop-chain", "not-chain", "lambdas", "indent", "calls", "method-chain"],
)
def test_deep_nesting(source):
    review_or_error(source)


def test_five_megabyte_file():
    block = (
        "def step_{i}(model, opt, x, y):\n"
        "    opt.zero_grad()\n"
        "    loss = torch.nn.functional.cross_entropy(model(x), y)\n"
        "    loss.backward()\n"
        "    opt.step()\n"
        "    return loss.detach()\n\n"
    )
    src = "import torch\n" + "".join(block.format(i=i) for i in range(30_000))
    assert len(src) > 5_000_000
    assert review_or_error(src, "big.py") == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_fuzz_garbage(data):
    review_or_error(data)


# Statements from real training code, glued into random (but well-indented) programs.
STATEMENTS = [
    "import torch", "import torch.nn as nn", "import torch.nn.functional as F", "import numpy as np",
    "from torch.utils.data import DataLoader", "model = nn.Linear(4, 2).cuda()", "x = x.to('cuda')",
    "optimizer.zero_grad(set_to_none=False)", "loss.backward()", "optimizer.step()", "scheduler.step()",
    "model.eval()", "model.train()", "loss = F.cross_entropy(F.softmax(out, 1), y)", "total += loss",
    "torch.save(model, 'm.pt')", "state = torch.load(path)", "x = y.transpose(1, 2).view(B, T, C)",
    "loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=4)", "p.require_grad = False",
    "out = F.relu(out)", "out += identity", "torch.manual_seed(0)", "idx = np.random.permutation(n)",
    "scaler = torch.cuda.amp.GradScaler()", "x = checkpoint(layer, x)", "y = a / torch.sqrt(v)",
    "logits.append(out)", "self.blocks = [nn.Linear(2, 2) for _ in range(3)]", "print(loss.item())",
    "torch.backends.cudnn.benchmark = True", "x = F.dropout(x, p=0.5)", "L = torch.cholesky(A)",
]
HEADERS = [
    "for x, y in loader:", "for epoch in range(3):", "with torch.no_grad():", "def forward(self, x):",
    "def evaluate(model, loader):", "if torch.cuda.is_available():", "while step < 10:", "class Net(nn.Module):",
    "with torch.autocast('cuda', dtype=torch.float16):", "if __name__ == '__main__':",
]


@st.composite
def programs(draw):
    lines, depth = [], 0
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()) and depth < 6:
            lines.append("    " * depth + draw(st.sampled_from(HEADERS)))
            depth += 1
            lines.append("    " * depth + draw(st.sampled_from(STATEMENTS)))
        else:
            depth = draw(st.integers(0, depth))
            lines.append("    " * depth + draw(st.sampled_from(STATEMENTS)))
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_fuzz_pytorch_like_programs(src):
    assert review_or_error(src) is not None  # these always parse


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hypothesmith.from_node())
def test_fuzz_arbitrary_valid_python(src):
    review_or_error(src)


def test_cli_never_prints_a_traceback(tmp_path: Path):
    (tmp_path / "bin.py").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "bad.py").write_text("def f(:\n")
    (tmp_path / "deep.py").write_text("x = " + "(" * 5000 + ")" * 5000 + "\n")
    (tmp_path / "ok.py").write_text("import torch\nopt.zero_grad(set_to_none=False)\n")
    (tmp_path / "nb.ipynb").write_text("{not json")
    proc = subprocess.run([*CLI, "review", str(tmp_path), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    findings = json.loads(proc.stdout)
    assert [f["rule"] for f in findings] == ["PT-GRAD003"]  # the good file is still reviewed
    for name in ("bin.py", "bad.py", "deep.py", "nb.ipynb"):
        assert name in proc.stderr
