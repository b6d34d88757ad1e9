"""`pytorch-patterns review` and `rules` as a user runs them: real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "pytorch_patterns"]

BAD = """import torch

opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
opt.zero_grad(set_to_none=False)
for p in []:
    p.require_grad = False
"""


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, input=stdin, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(BAD)
    (tmp_path / "clean.py").write_text("import torch\n\nx = torch.zeros(2)\n")
    return tmp_path


def test_text_output_and_exit_codes(project: Path):
    proc = run("review", "train.py", cwd=project)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("train.py:4:") and "PT-GRAD003" in lines[0]
    assert lines[1].startswith("train.py:6:") and "PT-GRAD006" in lines[1]
    assert run("review", "clean.py", cwd=project).returncode == 0
    missing = run("review", "nope.py", cwd=project)
    assert missing.returncode == 2 and "nope.py" in missing.stderr
    assert run("review", "--select", "PT-NOPE999", "clean.py", cwd=project).returncode == 2
    assert run("review", "--format", "xml", "clean.py", cwd=project).returncode == 2


def test_json_output_fields(project: Path):
    proc = run("review", ".", "--format", "json", cwd=project)
    findings = json.loads(proc.stdout)
    assert {f["rule"] for f in findings} == {"PT-GRAD003", "PT-GRAD006"}
    for f in findings:
        assert {"file", "line", "col", "end_line", "end_col", "rule", "name", "severity", "message", "fix"} <= set(f)
        assert f["fix"]["edits"] and f["fix"]["applicability"] == "safe"


def test_select_ignore_and_noqa(project: Path):
    only = json.loads(run("review", "train.py", "--format", "json", "--select", "PT-GRAD006", cwd=project).stdout)
    assert [f["rule"] for f in only] == ["PT-GRAD006"]
    rest = json.loads(run("review", "train.py", "--format", "json", "--ignore", "PT-GRAD006", cwd=project).stdout)
    assert [f["rule"] for f in rest] == ["PT-GRAD003"]
    fam = json.loads(run("review", "train.py", "--format", "json", "--ignore", "PT-GRAD", cwd=project).stdout)
    assert fam == []
    (project / "noqa.py").write_text(
        BAD.replace("set_to_none=False)", "set_to_none=False)  # noqa: PT-GRAD003").replace(
            "p.require_grad = False", "p.require_grad = False  # noqa"
        )
    )
    assert run("review", "noqa.py", cwd=project).returncode == 0
    (project / "other.py").write_text(BAD.replace("set_to_none=False)", "set_to_none=False)  # noqa: PT-GRAD006"))
    assert "PT-GRAD003" in run("review", "other.py", cwd=project).stdout  # noqa for another code does not hide it


def test_pyproject_config(project: Path):
    (project / "pyproject.toml").write_text(
        '[tool.pytorch-patterns]\nignore = ["PT-GRAD003"]\nexclude = ["vendored"]\n'
        '[tool.pytorch-patterns.per-file-ignores]\n"scripts/*.py" = ["PT-GRAD006"]\n'
    )
    (project / "vendored").mkdir()
    (project / "vendored" / "x.py").write_text(BAD)
    (project / "scripts").mkdir()
    (project / "scripts" / "s.py").write_text(BAD)
    (project / ".venv" / "lib").mkdir(parents=True)
    (project / ".venv" / "lib" / "y.py").write_text(BAD)
    findings = json.loads(run("review", ".", "--format", "json", cwd=project).stdout)
    got = sorted((Path(f["file"]).as_posix(), f["rule"]) for f in findings)
    assert got == [("train.py", "PT-GRAD006")]
    (project / "pyproject.toml").write_text('[tool.pytorch-patterns]\nselect = ["PT-BOGUS"]\n')
    bad = run("review", ".", cwd=project)
    assert bad.returncode == 2 and "PT-BOGUS" in bad.stderr


def test_fix_diff_and_idempotence(project: Path):
    diff = run("review", "train.py", "--diff", cwd=project)
    assert diff.returncode == 1 and "+opt.zero_grad()" in diff.stdout
    assert (project / "train.py").read_text() == BAD  # --diff changes nothing
    fixed = run("review", "train.py", "--fix", cwd=project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    text = (project / "train.py").read_text()
    assert "opt.zero_grad()\n" in text and "p.requires_grad = False" in text
    compile(text, "train.py", "exec")
    again = run("review", "train.py", "--fix", cwd=project)
    assert again.returncode == 0 and (project / "train.py").read_text() == text


def test_stdin(project: Path):
    proc = run("review", "-", "--format", "json", stdin=BAD, cwd=project)
    assert proc.returncode == 1
    assert {f["file"] for f in json.loads(proc.stdout)} == {"-"}
    fixed = run("review", "-", "--fix", stdin=BAD, cwd=project)
    assert "opt.zero_grad()\n" in fixed.stdout and "PT-" not in fixed.stdout


def test_notebook_cells_and_lines(tmp_path: Path):
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Training\n"]},
            {"cell_type": "code", "source": ["%matplotlib inline\n", "import torch\n"]},
            {"cell_type": "code", "source": ["!pip install foo\n", "opt.zero_grad(set_to_none=False)\n"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    proc = run("review", "nb.ipynb", "--format", "json", cwd=tmp_path)
    [f] = json.loads(proc.stdout)
    assert (f["rule"], f["cell"], f["line"]) == ("PT-GRAD003", 3, 2)
    text = run("review", "nb.ipynb", cwd=tmp_path).stdout
    assert text.startswith("nb.ipynb:cell 3:2:")


def test_sarif_is_valid_for_code_scanning(project: Path):
    proc = run("review", ".", "--format", "sarif", cwd=project)
    doc = json.loads(proc.stdout)
    assert doc["version"] == "2.1.0" and "sarif" in doc["$schema"]
    [run_] = doc["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "pytorch-patterns" and driver["rules"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] and r["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    assert len(run_["results"]) == 2
    for res in run_["results"]:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["message"]["text"] and res["level"] in {"error", "warning", "note"}
        [loc] = res["locations"]
        phys = loc["physicalLocation"]
        assert not phys["artifactLocation"]["uri"].startswith("/")  # relative to %SRCROOT%
        region = phys["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert (region["endLine"], region["endColumn"]) > (region["startLine"], region["startColumn"])


def test_rules_command():
    listing = run("rules")
    assert listing.returncode == 0 and "PT-GRAD006" in listing.stdout
    one = run("rules", "PT-GRAD006")
    assert one.returncode == 0 and "requires_grad" in one.stdout and "Bad" in one.stdout
    by_name = run("rules", "require-grad-typo", "--format", "json")
    assert json.loads(by_name.stdout)["code"] == "PT-GRAD006"
    assert run("rules", "PT-NOPE999").returncode == 2


def test_generated_rule_catalogue_doc_is_current():
    """skill/docs/rules.md is generated from the rule classes; regenerate with
    `pytorch-patterns rules --format markdown > skill/docs/rules.md`."""
    from pytorch_patterns.skill.review.catalogue import rules_markdown

    doc = Path(__file__).resolve().parents[2] / "skill" / "docs" / "rules.md"
    assert doc.read_text(encoding="utf-8") == rules_markdown() + "\n"
