"""The distribution as users install it: a wheel with no generic top-level names, a reviewer that needs no torch."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return next(out.glob("pytorch_patterns-*.whl"))


def test_wheel_installs_everything_under_pytorch_patterns(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"pytorch_patterns"}, tops
    for must in ("pytorch_patterns/skill/review/engine.py", "pytorch_patterns/server/app.py",
                 "pytorch_patterns/reference_impls/runner.py", "pytorch_patterns/evals/harness.py",
                 "pytorch_patterns/skill/docs/training-loop.md"):
        assert must in names, must
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [ln for ln in zipfile.ZipFile(wheel).read(metadata).decode().splitlines() if ln.startswith("Requires-Dist:")]
    assert not [r for r in requires if r.startswith("Requires-Dist: torch") and "extra ==" not in r], requires


@pytest.mark.skipif(not os.environ.get("PP_SLOW") and not os.environ.get("CI"),
                    reason="installs the wheel's dependencies from the package index (CI, or PP_SLOW=1)")
def test_wheel_in_a_clean_venv_reviews_without_torch(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('torch') is None, u.find_spec('skill') is None)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.split() == ["True", "True"], probe.stdout + probe.stderr
    (tmp_path / "train.py").write_text("import torch\nx = torch.zeros(3).cuda()\n")
    review = subprocess.run([str(venv / "bin" / "pytorch-patterns"), "review", "train.py"], capture_output=True, text=True, cwd=tmp_path)
    assert review.returncode == 1 and "PT-DEV001" in review.stdout, review.stdout + review.stderr


def test_every_package_folder_is_in_the_wheel_list():
    """pyproject lists the packages by hand (package-dir mapping): a new folder with an __init__.py must be listed."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"pytorch_patterns"}
    for top in ("pytorch_patterns", "skill", "server", "evals", "reference_impls"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            if "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts):
                continue
            name = ".".join(rel.parts)
            found.add(name if top == "pytorch_patterns" else "pytorch_patterns." + name)
    assert found == listed, {"missing from pyproject": sorted(found - listed), "stale": sorted(listed - found)}


def test_no_project_code_imports_the_bare_top_level_names():
    import ast

    bare = {"skill", "server", "evals", "reference_impls"}
    offenders = []
    for top in ("pytorch_patterns", "skill", "server", "evals", "reference_impls", "tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if any(part in rel for part in ("fixtures/", "corpus/", "/scripts/", "core_scripts/", "heldout", "/tasks/")):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [f"{rel}:{node.lineno} {n}" for n in names if n.split(".")[0] in bare]
    assert not offenders, offenders[:20]


def test_pre_commit_rev_names_this_version():
    import re
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for doc in ("README.md", "docs/reviewer.md", ".pre-commit-hooks.yaml"):
        revs = re.findall(r"rev:\s*(\S+)", (ROOT / doc).read_text())
        assert revs and set(revs) == {f"v{version}"}, (doc, revs)
