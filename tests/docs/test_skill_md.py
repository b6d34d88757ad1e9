"""SKILL.md against the Agent Skills specification: frontmatter fields, name/description limits, body size,
and that the body is the decision guide it claims to be (every MCP tool named, every doc linked)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO = Path(__file__).resolve().parents[2]
SKILL_MD = REPO / "SKILL.md"
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")  # lowercase letters, digits, single hyphens inside
MCP_TOOLS = [
    "review_code", "explain_rule", "generate_training_loop", "generate_dataset", "generate_checkpointing",
    "list_reference_impls", "run_reference_impl", "compare_implementations", "diagnose_training_run",
]


class Frontmatter(BaseModel):
    """The fields the Agent Skills specification allows, with its limits; anything else is an error."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=64, pattern=NAME_RE.pattern)
    description: str = Field(min_length=1, max_length=1024)
    license: str | None = None
    compatibility: str | None = Field(default=None, min_length=1, max_length=500)
    metadata: dict[str, str] | None = None
    allowed_tools: str | None = Field(default=None, alias="allowed-tools")

    @field_validator("description")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("description is blank")
        return v


def split_skill_md(text: str) -> tuple[dict, str]:
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    if not m:
        raise ValueError("SKILL.md must start with a YAML frontmatter block delimited by --- lines")
    data = yaml.safe_load(m.group(1))
    if not isinstance(data, dict):
        raise ValueError("frontmatter is not a mapping")
    return data, m.group(2)


FRONT, BODY = split_skill_md(SKILL_MD.read_text(encoding="utf-8"))


def test_frontmatter_follows_the_specification():
    fm = Frontmatter.model_validate(FRONT)
    assert fm.name == "pytorch-patterns"
    # the name must match the directory the skill is installed as, and the distribution it ships in
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    assert fm.name == project
    install = (REPO / "skill" / "docs" / "installation.md").read_text(encoding="utf-8")
    assert f"~/.claude/skills/{fm.name}" in install and f".claude/skills/{fm.name}" in install


def test_description_says_when_to_use_it_first():
    description = FRONT["description"]
    first_sentence = re.split(r"(?<=[.!?])\s", description, maxsplit=1)[0]
    assert first_sentence.startswith("Use when")
    for word in ("writing", "reviewing", "debugging", "speeding up", "PyTorch"):
        assert word in first_sentence, word
    assert "<" not in description and ">" not in description  # no XML-like tags in the description


def test_body_is_under_500_lines_and_names_every_tool():
    assert len(BODY.splitlines()) < 500
    for tool in MCP_TOOLS:
        assert f"`{tool}`" in BODY, f"decision guide does not mention {tool}"
    for cli in ("pytorch-patterns review", "pytorch-patterns rules", "pytorch-patterns run", "pytorch-patterns compare"):
        assert cli in BODY
    assert "Without the tools" in BODY


def test_body_links_every_pattern_doc():
    linked = set(re.findall(r"\]\(skill/docs/([a-z-]+\.md)", BODY))
    docs = {p.name for p in (REPO / "skill" / "docs").glob("*.md")} - {"README.md"}
    assert docs <= linked, f"SKILL.md does not link {sorted(docs - linked)}"


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        ({"name": "PyTorch_Patterns"}, "name"),
        ({"name": "-pytorch"}, "name"),
        ({"name": "a" * 65}, "name"),
        ({"description": ""}, "description"),
        ({"description": "x" * 1025}, "description"),
        ({"version": "1.0"}, "version"),  # not a field of the specification
        ({"compatibility": "y" * 501}, "compatibility"),
    ],
)
def test_validator_rejects_what_the_specification_forbids(patch, error):
    with pytest.raises(ValidationError, match=error):
        Frontmatter.model_validate({**FRONT, **patch})


# The topics a senior engineer expects beyond the original guidance: each one a doc section the decision guide
# links to (the link test in test_docs.py checks that every anchor resolves).
TOPIC_SECTIONS = [
    "skill/docs/devices.md#device-agnostic-code-with-torchaccelerator",
    "skill/docs/performance.md#attention-fscaled_dot_product_attention",
    "skill/docs/distributed.md#fsdp2-fully_shard-initialisation-and-torchdistributedcheckpoint",
    "skill/docs/data-loading.md#streaming-data-shard-an-iterabledataset-across-workers-and-ranks",
    "skill/docs/debugging.md#asynchronous-cuda-errors-cuda_launch_blocking1",
    "skill/docs/training-loop.md#weight-decay-parameter-groups-and-lr-warm-up",
    "skill/docs/distributed.md#torchcompile-with-ddp",
]


@pytest.mark.parametrize("target", TOPIC_SECTIONS)
def test_decision_guide_links_each_topic_section(target: str):
    guide = BODY.split("## Decision guide", 1)[1].split("\n## ", 1)[0]
    assert f"]({target})" in guide, f"the decision guide does not link {target}"


def test_corrections_include_the_original_guidance_errors():
    corrections = BODY.split("## Corrections to common advice", 1)[1].split("\n## ", 1)[0]
    assert re.search(r'"`reduce-overhead` is faster, `max-autotune` fastest" is not a rule', corrections)
    assert re.search(r"`@torch\.no_grad\(\)` on a function is not more efficient than a `with torch\.no_grad\(\):`",
                     corrections)
