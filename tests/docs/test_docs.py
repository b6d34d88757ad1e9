"""The skill's docs are tested like code: markers, reviewer verdicts, CPU runs and links.

Conventions (documented in skill/docs/README.md): every fenced python block in SKILL.md and skill/docs/*.md
carries a marker on the line above its fence. `bad: PT-X` blocks must get rule PT-X's finding; `good`
blocks parse and get no finding from the default rule set; `good, runnable` blocks also run on CPU;
`snippet` and `bad: unchecked` blocks must parse.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytorch_patterns.skill.review import all_rules, review_source

from skill_doc_blocks import (
    DOCS_DIR,
    REPO,
    SKILL_MD,
    Kind,
    anchors,
    doc_files,
    iter_blocks,
    links,
    parse_marker,
    python_blocks,
)

# One doc per topic of the issue; each must teach at least one bad/good pair.
TOPIC_DOCS = [
    "devices.md",
    "reproducibility.md",
    "modules.md",
    "training-loop.md",
    "evaluation.md",
    "data-loading.md",
    "checkpointing.md",
    "mixed-precision.md",
    "performance.md",
    "memory.md",
    "distributed.md",
    "debugging.md",
]

BLOCKS = python_blocks()


def _marked(kind: Kind, *, runnable: bool | None = None):
    out = []
    for block in BLOCKS:
        try:
            marked = parse_marker(block.marker)
        except ValueError:
            continue
        if marked.kind is kind and (runnable is None or marked.runnable == runnable):
            out.append(pytest.param(block, marked, id=block.where))
    return out


def test_docs_exist_and_blocks_were_found():
    missing = [name for name in TOPIC_DOCS if not (DOCS_DIR / name).is_file()]
    assert not missing, f"topic docs missing: {missing}"
    assert SKILL_MD.is_file()
    assert len(BLOCKS) >= 3 * len(TOPIC_DOCS), "suspiciously few python blocks: is the extractor broken?"


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_fence_has_a_language_and_every_python_block_a_marker(path: Path):
    problems = []
    for block in iter_blocks(path):
        if not block.lang:
            problems.append(f"{block.where}: fence without a language tag")
        elif block.lang in {"python", "py", "python3"}:
            try:
                parse_marker(block.marker)
            except ValueError as exc:
                problems.append(f"{block.where}: {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", TOPIC_DOCS)
def test_each_topic_doc_has_bad_and_good_versions(name: str):
    kinds = [parse_marker(b.marker) for b in iter_blocks(DOCS_DIR / name) if b.lang == "python"]
    assert any(m.kind is Kind.bad and m.rule for m in kinds), f"{name}: no bad block tied to a rule"
    assert any(m.kind is Kind.good for m in kinds), f"{name}: no good block"


@pytest.mark.parametrize(("block", "marked"), _marked(Kind.bad))
def test_bad_block_gets_its_rule(block, marked):
    known = {r.code for r in all_rules()}
    assert marked.rule in known, f"{block.where}: marker names unknown rule {marked.rule}"
    findings = review_source(block.code, filename=block.where, select=[marked.rule])
    assert any(f.rule == marked.rule for f in findings), (
        f"{block.where}: expected a {marked.rule} finding, got {[(f.rule, f.line) for f in findings]}\n{block.code}"
    )


@pytest.mark.parametrize(("block", "marked"), _marked(Kind.good))
def test_good_block_is_clean(block, marked):
    ast.parse(block.code, filename=block.where)
    findings = review_source(block.code, filename=block.where)
    assert not findings, f"{block.where}: good block flagged:\n" + "\n".join(
        f"  line {f.line}: {f.rule} {f.message}" for f in findings
    )


@pytest.mark.parametrize(("block", "marked"), _marked(Kind.snippet) + _marked(Kind.bad_unchecked))
def test_snippet_parses(block, marked):
    ast.parse(block.code, filename=block.where)


def test_runnable_blocks_run_on_cpu(tmp_path: Path):
    runnable = [{"where": p.values[0].where, "code": p.values[0].code} for p in _marked(Kind.good, runnable=True)]
    assert len(runnable) >= 10, "expected runnable examples across the docs"
    blocks_json, results_json = tmp_path / "blocks.json", tmp_path / "results.json"
    blocks_json.write_text(json.dumps(runnable), encoding="utf-8")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("run_blocks.py")), str(blocks_json), str(results_json)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    results = json.loads(results_json.read_text(encoding="utf-8")) if results_json.exists() else []
    assert proc.returncode == 0, f"runner crashed (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    assert [r["where"] for r in results] == [b["where"] for b in runnable], "not every block was run"
    failed = [f"{r['where']}:\n{r['error']}" for r in results if not r["ok"]]
    assert not failed, "runnable doc blocks failed:\n\n" + "\n\n".join(failed)


@pytest.mark.parametrize("path", [*doc_files(), REPO / "evals" / "triggers" / "README.md", REPO / "README.md",
                                  *sorted((REPO / "docs").glob("*.md"))],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path):
    broken = []
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:, pytorch-patterns: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{path.relative_to(REPO)}:{line}: {target} -> no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{path.relative_to(REPO)}:{line}: {target} -> no heading #{anchor}")
    assert not broken, "\n".join(broken)


def test_cited_rule_codes_exist():
    known = {r.code for r in all_rules()}
    cited = {}
    for path in doc_files():
        for code in re.findall(r"PT-[A-Z]+\d{3}", path.read_text(encoding="utf-8")):
            cited.setdefault(code, path.relative_to(REPO))
    unknown = {c: str(p) for c, p in cited.items() if c not in known and c != "PT-XXX000"}
    assert not unknown, f"docs cite rules the reviewer does not have: {unknown}"


def test_marker_parser_rejects_malformed_markers():
    for bad in [None, "<!-- bad -->", "<!-- bad: GRAD002 -->", "<!-- good runnable -->", "# good"]:
        with pytest.raises(ValueError):
            parse_marker(bad)
    assert parse_marker("<!-- bad: PT-GRAD002 -->").rule == "PT-GRAD002"
    assert parse_marker("<!--good, runnable-->").runnable


# The original guidance was wrong or silent on these points; the docs must keep stating the corrected facts.
CORRECTIONS = [
    ("reproducibility.md", r"`torch\.backends\.cudnn\.deterministic = True` alone does \*\*not\*\*"),
    ("reproducibility.md", r"CUBLAS_WORKSPACE_CONFIG.*:4096:8"),
    ("reproducibility.md", r"torch\.manual_seed.*seeds.*every CUDA device"),
    ("modules.md", r"`nn\.ReLU\(inplace=True\)` after a conv or BatchNorm is safe"),
    ("checkpointing.md", r"weights-only `state_dict` is exactly right for deployment"),
    ("mixed-precision.md", r"CPU with native bf16.*not needed"),
    ("mixed-precision.md", r"AVX2-only.*don't autocast"),
    ("mixed-precision.md", r"`unscale_` divides the gradients"),
    ("data-loading.md", r"`persistent_workers=True` with `num_workers=0` raises `ValueError`"),
    ("data-loading.md", r"`pin_memory` helps only for copies to CUDA"),
    ("modules.md", r"`F\.dropout` defaults to `training=True`"),
    ("training-loop.md", r"set_to_none=True is the default since PyTorch 2\.0"),
    ("checkpointing.md", r"PyTorch 2\.6 changed the default to\s+`weights_only=True`"),
    ("mixed-precision.md", r"`torch\.cuda\.amp\.autocast`.*deprecated"),
    ("performance.md", r"12-120 s cold"),
    ("debugging.md", r"`x\.permute\(0, 2, 3, 1\)\.view\(B, H \* W, C\)`\s+works"),
    ("distributed.md", r"sampler\.set_epoch\(epoch\)"),
    ("memory.md", r"use_reentrant=False"),
]


@pytest.mark.parametrize(("name", "pattern"), CORRECTIONS, ids=[f"{n}:{p[:30]}" for n, p in CORRECTIONS])
def test_corrected_facts_are_stated(name: str, pattern: str):
    text = (DOCS_DIR / name).read_text(encoding="utf-8")
    assert re.search(pattern, text, re.S), f"{name} no longer states: {pattern}"


def test_docs_index_lists_every_doc():
    index = DOCS_DIR / "README.md"
    linked = {target.partition("#")[0] for _, target in links(index)}
    docs = {p.name for p in DOCS_DIR.glob("*.md")} - {"README.md"}
    assert docs <= linked, f"skill/docs/README.md does not list {sorted(docs - linked)}"


def test_readme_stays_a_front_page():
    """The README says what this is, the two set-up commands, how to run and install; internals live in docs/."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for must in ("make demo", "make test", "TORCH_INDEX", "/plugin install", ".venv/bin/pytorch-patterns"):
        assert must in text, must
