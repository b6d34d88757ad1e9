"""`pytorch-patterns doctor`: exit codes (0 clean, 1 findings, 2 bad input), one clear line for bad input,
JSON and HTML output well-formed."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = Path(__file__).parent / "core_scripts"

LOOP = """\
import torch
import torch.nn as nn
torch.manual_seed(0)
torch.set_num_threads(1)
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x, y = torch.randn(64, 4), torch.randn(64, 1)
for step in range(30):
    opt.zero_grad()
    loss = ((model(x[step % 8 * 8:step % 8 * 8 + 8]) - y[step % 8 * 8:step % 8 * 8 + 8]) ** 2).mean()
    loss.backward()
    opt.step(){extra}
"""


def doctor(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytorch_patterns", "doctor", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _bad_input(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("pytorch-patterns doctor: error:"), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert "reference_impls/doctor" not in proc.stderr  # never a traceback of ours


def test_missing_script():
    _bad_input(doctor("no/such/train.py"), "no such file")


def test_clean_exit_0_and_findings_exit_1_with_json_and_html(tmp_path: Path):
    clean = tmp_path / "clean.py"
    clean.write_text(LOOP.format(extra=""))
    buggy = tmp_path / "double.py"
    buggy.write_text(LOOP.format(extra="\n    opt.step()"))
    proc = doctor(str(clean), "--steps", "6", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["steps"] == 6 and report["findings"] == []
    assert len(report["series"]["loss"]) == 6 and report["stop_reason"] == "stopped"
    out = tmp_path / "out"
    proc = doctor(str(buggy), "--steps", "6", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "PT-RUN003" in proc.stdout and f"{buggy.name}:13" in proc.stdout  # the second step() call's line
    data = json.loads((out / "doctor.json").read_text())
    assert [f["rule"] for f in data["findings"]] == ["PT-RUN003"]
    page = (out / "doctor.html").read_text()
    _well_formed(page)
    assert page.count("<figure>") == 4 and "<svg" in page and "PT-RUN003" in page and "<script" not in page and "http" not in page


class _Checker(HTMLParser):
    VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "path"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def _well_formed(page: str) -> None:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [], checker.stack


@pytest.mark.parametrize(("body", "options", "needles"), [
    ("import torch\nprint('no training here')\n", [], ["without an optimizer step", "0 backward"]),
    ("import torch\nm = torch.nn.Linear(2, 2)\nm(torch.randn(3, 2))\nraise ValueError('bad config value')\n", [],
     ["crashed before its first optimizer step", "ValueError: bad config value"]),
    ("import torch\nx = torch.zeros(2, device='cuda')\n", ["--device", "cpu"], ["needs a GPU"]),
    ("import time\nimport torch\nwhile True:\n    time.sleep(0.1)\n", ["--timeout", "12"],
     ["no optimizer step within 12 s"]),
    ("import torch\nassert torch.cuda.is_available(), 'this script needs a CUDA GPU'\n", [],
     ["needs a GPU", "(at train.py:2)", "this script needs a CUDA GPU"]),
    (LOOP.format(extra="\n    if step == 2:\n        model(torch.randn(8, 5))"), [],
     ["crashed after 3 optimizer step(s) (at train.py:14)", "mat1 and mat2 shapes cannot be multiplied"]),
], ids=["no-step", "crash", "needs-gpu", "timeout", "needs-gpu-own-check", "crash-after-steps"])
def test_bad_input_is_one_clear_error(tmp_path: Path, body, options, needles):
    script = tmp_path / "train.py"
    script.write_text(body)
    _bad_input(doctor(str(script), *options), *needles)


def test_bad_option_values():
    proc = doctor(str(CORE / "clean_mlp.py"), "--steps", "0")
    assert proc.returncode == 2 and "steps" in proc.stderr and "Traceback" not in proc.stderr


def test_script_args_after_double_dash(tmp_path: Path):
    script = tmp_path / "args.py"
    script.write_text(LOOP.format(extra="").replace("for step in range(30)", "import sys\nassert sys.argv[1:] == "
                                                    "['--epochs', '2'], sys.argv\nfor step in range(30)"))
    proc = doctor(str(script), "--steps", "3", "--", "--epochs", "2")
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_no_step_report_says_what_the_probe_saw(tmp_path: Path):
    """Without a child: the report built from recorded events names processes the script started itself, a
    script that never started, and takes the exception line, not a warning printed after it."""
    from pytorch_patterns.reference_impls.doctor.run import DoctorOptions, _build_report, _last_line, _Run

    script = tmp_path / "train.py"
    script.write_text("pass\n")
    spawned = _Run(events={0: [{"ev": "start", "cuda": False}, {"ev": "spawn"}, {"ev": "spawn"},
                               {"ev": "end", "reason": "finished"}]})
    report = _build_report(script, [], DoctorOptions(), spawned)
    assert report.error_kind == "no-step" and "started 2 process(es) of its own" in report.error
    assert "torchrun" in report.error
    never = _build_report(script, [], DoctorOptions(), _Run(events={}))
    assert "had not started yet" in never.error
    tail = ("Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n    f()\n"
            "AttributeError: no attribute 'x'\n\n/usr/lib/python3.11/resource_tracker.py:254: UserWarning: leaked\n"
            "  warnings.warn('resource_tracker')\n")
    assert _last_line(tail) == "AttributeError: no attribute 'x'"
