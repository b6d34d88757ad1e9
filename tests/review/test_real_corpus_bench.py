"""bench/real_corpus.py on a tiny local mirror: extraction at a commit, review as a project, triage matching."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "real_corpus.py"

TRAIN = """\
import torch
import torch.nn.functional as F


def train(model, loader, optimizer):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
"""


def _load():
    spec = importlib.util.spec_from_file_location("real_corpus_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is created
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}).stdout.strip()


@pytest.fixture()
def mirror(tmp_path: Path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q")
    (work / "train.py").write_text(TRAIN)
    (work / "data.bin").write_bytes(b"\x00" * 16)  # not Python: never extracted
    (work / "docs").mkdir()
    (work / "docs" / "conf.py").write_text("project = 'x'\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "first")
    first = _git(work, "rev-parse", "HEAD")
    (work / "train.py").write_text(TRAIN.replace("        loss.backward()", "        optimizer.zero_grad()\n        loss.backward()"))
    _git(work, "commit", "-qam", "fix")
    mirror = tmp_path / "mirror" / "acme+trainer"
    mirror.parent.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror / "repo")], check=True)
    return tmp_path / "mirror", first


def test_reviews_the_listed_commit_and_matches_triage(mirror, tmp_path, monkeypatch, capsys) -> None:
    mod = _load()
    mirror_root, first = mirror
    monkeypatch.setattr(mod, "CORPUS", (mod.CorpusRepo("acme/trainer", first, ("train.py", "docs")),
                                         mod.CorpusRepo("acme/absent", "0" * 40, ("x.py",))))
    triage = tmp_path / "triage.md"
    triage.write_text("| repo | file:line | code | verdict | reason |\n|---|---|---|---|---|\n"
                      "| acme/trainer | `train.py:8` | PT-GRAD002 | true bug | no zero_grad |\n"
                      "| acme/trainer | `train.py:99` | PT-GRAD002 | false alarm | gone since |\n")
    monkeypatch.setattr(mod, "TRIAGE", triage)
    out_json = tmp_path / "out.json"
    rc = mod.main(["--mirror", str(mirror_root), "--cache", str(tmp_path / "cache"), "--select", "PT-GRAD002",
                   "--json", str(out_json)])
    out = capsys.readouterr()
    assert rc == 0
    assert "skipped acme/absent" in out.err
    data = json.loads(out_json.read_text())
    (repo,) = data["repos"]
    assert repo["files"] == 2 and repo["lines"] == TRAIN.count("\n") + 1
    assert [(f["file"], f["line"], f["rule"]) for f in repo["findings"]] == [("train.py", 8, "PT-GRAD002")]
    assert data["verdicts"] == {"true bug": 1}
    assert "false-alarm share among the findings read: 0.0%" in out.out
    assert "no longer reported: 1 (1 false alarms" in out.out
    extracted = tmp_path / "cache" / f"acme+trainer@{first[:12]}"
    assert not (extracted / "data.bin").exists() and (extracted / "docs" / "conf.py").is_file()


def test_bad_input_is_one_line_and_exit_2(mirror, tmp_path, monkeypatch, capsys) -> None:
    mod = _load()
    mirror_root, first = mirror
    monkeypatch.setattr(mod, "CORPUS", (mod.CorpusRepo("acme/trainer", first, ("train.py",)),))
    bad = tmp_path / "bad.md"
    bad.write_text("| acme/trainer | `train.py:8` | PT-GRAD002 | maybe | unsure |\n")
    monkeypatch.setattr(mod, "TRIAGE", bad)
    assert mod.main(["--mirror", str(mirror_root), "--cache", str(tmp_path / "c")]) == 2
    assert "verdict 'maybe'" in capsys.readouterr().err
    monkeypatch.setattr(mod, "TRIAGE", tmp_path / "none.md")
    assert mod.main(["--mirror", str(tmp_path / "nowhere"), "--cache", str(tmp_path / "c")]) == 2
    assert mod.main(["--repo", "nobody/nothing"]) == 2
    assert mod.main(["--select", "PT-XYZ999"]) == 2
