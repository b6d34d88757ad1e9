"""The trigger evaluation set: schema, counts, balance, and the runner's detection and skip behaviour."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "evals" / "triggers" / "run_triggers.py"


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_triggers", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_triggers"] = module  # pydantic resolves the models' annotations through sys.modules
    spec.loader.exec_module(module)
    return module


rt = _load_runner()


def test_trigger_file_validates_with_20_and_20():
    ts = rt.load_trigger_set()
    assert ts.skill == "pytorch-patterns"
    assert len(ts.should_trigger) == 20
    assert len(ts.should_not_trigger) == 20


def test_near_misses_cover_every_category_and_positives_cover_many_topics():
    ts = rt.load_trigger_set()
    categories = {c.category for c in ts.should_not_trigger}
    assert categories == {"jax", "tensorflow", "numpy", "python"}
    assert len({c.topic for c in ts.should_trigger}) >= 8
    # positives are about PyTorch; negatives never mention it (else they are not near-misses but ambiguous)
    for c in ts.should_not_trigger:
        assert "torch" not in c.prompt.lower(), c.id


def test_schema_rejects_malformed_sets(tmp_path: Path):
    good = yaml.safe_load((REPO / "evals" / "triggers" / "triggers.yaml").read_text(encoding="utf-8"))
    dup = json.loads(json.dumps(good))
    dup["should_not_trigger"][0]["id"] = dup["should_trigger"][0]["id"]
    with pytest.raises(ValidationError, match="duplicate ids"):
        rt.TriggerSet.model_validate(dup)
    bad_cat = json.loads(json.dumps(good))
    bad_cat["should_not_trigger"][0]["category"] = "pytorch"
    with pytest.raises(ValidationError):
        rt.TriggerSet.model_validate(bad_cat)
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nshould_trigger: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        rt.load_trigger_set(broken)


def _assistant(*items):
    return {"type": "assistant", "message": {"content": list(items)}}


def test_skill_detection_on_stream_json_events():
    skill = "pytorch-patterns"
    use = {"type": "tool_use", "name": "Skill", "input": {"skill": "pytorch-patterns"}}
    namespaced = {"type": "tool_use", "name": "Skill", "input": {"command": "pytorch-patterns:pytorch-patterns"}}
    read = {"type": "tool_use", "name": "Read", "input": {"file_path": "/p/.claude/skills/pytorch-patterns/SKILL.md"}}
    other = {"type": "tool_use", "name": "Skill", "input": {"skill": "pdf"}}
    text = {"type": "text", "text": "I will use pytorch-patterns"}
    assert rt.skill_loaded([_assistant(use)], skill)
    assert rt.skill_loaded([_assistant(namespaced)], skill)
    assert rt.skill_loaded([_assistant(read)], skill)
    assert not rt.skill_loaded([_assistant(other, text)], skill)
    assert not rt.skill_loaded([{"type": "user", "message": {"content": [use]}}], skill)
    assert not rt.skill_loaded([{"type": "system", "subtype": "init"}, "garbage", _assistant()], skill)


def test_rates_exclude_errors():
    results = [
        rt.CaseResult(id="a", expected=True, triggered=True, seconds=1),
        rt.CaseResult(id="b", expected=True, triggered=False, seconds=1),
        rt.CaseResult(id="c", expected=True, triggered=None, error="timed out", seconds=1),
        rt.CaseResult(id="d", expected=False, triggered=False, seconds=1),
    ]
    report = rt.summarise(results, "pytorch-patterns", "project", None)
    assert report.trigger_rate == 0.5
    assert report.false_trigger_rate == 0.0
    assert (report.completed, report.errors) == (3, 1)


def test_runner_skips_cleanly_without_claude(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PATH"] = str(tmp_path)  # an empty directory: no `claude` here
    proc = subprocess.run([sys.executable, str(RUNNER)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("skipped:")


def test_runner_skips_cleanly_without_api_key(tmp_path: Path):
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\necho should-not-run >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([sys.executable, str(RUNNER)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "skipped: ANTHROPIC_API_KEY" in proc.stdout


def test_runner_rejects_a_malformed_file(tmp_path: Path):
    bad = tmp_path / "t.yaml"
    bad.write_text("version: 2\nskill: x\nshould_trigger: []\nshould_not_trigger: []\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(RUNNER), "--file", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "error:" in proc.stderr


FAKE_CLAUDE = """#!{python}
# Stands in for Claude Code: lists the skills it can see, and "loads" ours for prompts that mention torch.
import json, os, sys
prompt = sys.argv[sys.argv.index("-p") + 1]
skills = sorted(os.listdir(".claude/skills")) if os.path.isdir(".claude/skills") else []
ok = all(os.path.isfile(os.path.join(".claude/skills", s, "SKILL.md")) for s in skills)
print(json.dumps({{"type": "system", "subtype": "init", "skills": skills if ok else []}}), flush=True)
content = [{{"type": "text", "text": "looking"}}]
if "torch" in prompt.lower() and skills:
    content.append({{"type": "tool_use", "name": "Skill", "input": {{"skill": skills[0]}}}})
print(json.dumps({{"type": "assistant", "message": {{"content": content}}}}), flush=True)
print(json.dumps({{"type": "result", "subtype": "success"}}), flush=True)
"""


def test_runner_end_to_end_with_a_stand_in_claude(tmp_path: Path):
    fake = tmp_path / "claude"
    fake.write_text(FAKE_CLAUDE.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    out = tmp_path / "report.json"
    env = {**os.environ, "ANTHROPIC_API_KEY": "test-key-not-used", "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, str(RUNNER), "--limit", "3", "--jobs", "2", "--json-out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = rt.TriggerReport.model_validate_json(out.read_text(encoding="utf-8"))
    assert report.errors == 0 and report.completed == 6
    # the stand-in loads the skill exactly for prompts that mention torch: the first three positives do
    # (t01..t03 say "PyTorch"), no negative does
    ts = rt.load_trigger_set()
    expected_rate = sum("torch" in c.prompt.lower() for c in ts.should_trigger[:3]) / 3
    assert report.trigger_rate == expected_rate
    assert report.false_trigger_rate == 0.0
    assert "trigger rate (should load)" in proc.stdout
