"""Task format (`evals/tasks/<id>/task.yaml`) and result models, validated with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TaskKind = Literal["review", "generate", "fix", "implement"]

CheckName = Literal[
    "review_recall",  # review: labelled findings reported (graded: exact line 1, within tolerance 1/2; x precision if < 1/2)
    "review_precision",  # review: graded, hits over reported findings
    "runs",  # the script runs to completion under the probe (exit 0, at least one training step)
    "loss_decreases",  # the loss measured by the probe goes down
    "modes",  # forwards with grad on are in train mode; forwards under no_grad are in eval mode; an eval phase exists
    "zero_grad",  # gradients are cleared between optimizer steps (params.accumulate=K: and kept across K micro-batches)
    "trains_model",  # the optimizer steps the given model class (params.model) / a model holding params.contains layers
    "lr_schedule",  # the learning rate at given steps relative to the first (params.ratios: {step index: ratio})
    "deterministic",  # same seed -> bit-identical losses
    "resume",  # stop + resume gives the same losses as the uninterrupted run
    "reviewer_clean",  # the static reviewer finds nothing in the submission
    "matches_reference",  # implement: outputs match the reference (KernelBench-style trials)
    "faster_than_reference",  # implement: the candidate beats the reference by params.min_speedup
    "same_as_reference",  # fix: same losses and evaluation outputs as the reference fix for the same seed
    "device_honoured",  # fix: asked for a device it cannot have (cuda here), the script refuses instead of using the CPU
    "learns",  # hidden data: the saved weights moved and beat fresh copies of the same model (a separate child)
    "accumulation",  # each step: k distinct micro-batches, each loss scaled by 1/k (params.k)
    "disjoint_validation",  # some evaluation forward sees only samples never trained on
    "independent",  # implement: the candidate neither imports, calls nor copies the reference
]


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CheckName
    weight: float = Field(default=1.0, ge=0)  # 0: a pure gate (it can fail a submission, never raise its score)
    gate: bool = Field(default=False, description="If this check fails, later checks score 0 (not run).")
    params: dict = Field(default_factory=dict)


class ExpectedFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    line: int = Field(ge=1)
    file: str = "train.py"


class Mutant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    fails: CheckName = Field(description="The check this wrong solution is written to fail.")
    also_fails: list[CheckName] = Field(
        default_factory=list,
        description="Checks that fail as a necessary consequence (e.g. an unseeded run cannot resume exactly). "
        "Calibration demands exactly fails + also_fails, no more, no less.",
    )
    description: str = ""


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    kind: TaskKind
    title: str
    families: list[str] = Field(min_length=1, description="Rule families the task exercises (device, mode, ...).")
    rules: list[str] = Field(default_factory=list, description="Rule codes the task is about.")
    entry: str = Field(default="train.py", description="The file the checks run or read.")
    args: list[str] = Field(default_factory=lambda: ["--synthetic-data", "--device", "cpu"])
    steps: int = Field(default=20, ge=4, le=1000)
    timeout_s: float = Field(default=120, gt=0, le=1800)
    memory_mb: int = Field(default=3072, ge=256)
    checks: list[Check] = Field(min_length=1)
    expected: list[ExpectedFinding] = Field(default_factory=list, description="review: the planted findings.")
    line_tolerance: int = Field(default=1, ge=0, le=10)
    mutants: list[Mutant] = Field(default_factory=list)
    reference: str | None = Field(default=None, description="implement: the reference module (in the task dir).")

    # filled by the loader
    root: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        names = [c.name for c in self.checks]
        if len(names) != len(set(names)):
            raise ValueError("each check may appear once")
        for m in self.mutants:
            for c in [m.fails, *m.also_fails]:
                if c not in names:
                    raise ValueError(f"mutant {m.name!r} names check {c!r}, which the task does not have")
        if self.kind == "review" and not self.expected:
            raise ValueError("a review task needs `expected` findings")
        if self.kind == "implement" and not self.reference:
            raise ValueError("an implement task needs `reference`")
        return self

    @field_validator("families")
    @classmethod
    def _known_families(cls, v: list[str]) -> list[str]:
        from pytorch_patterns.skill.review.rule import FAMILIES

        known = set(FAMILIES.values())
        bad = [f for f in v if f not in known]
        if bad:
            raise ValueError(f"unknown families {bad}; known: {sorted(known)}")
        return v

    @property
    def prompt(self) -> str:
        assert self.root is not None
        return (self.root / "prompt.md").read_text(encoding="utf-8")

    @property
    def inputs_dir(self) -> Path:
        assert self.root is not None
        return self.root / "inputs"

    @property
    def oracle_dir(self) -> Path:
        assert self.root is not None
        return self.root / "oracle"

    def mutant_dir(self, name: str) -> Path:
        assert self.root is not None
        return self.root / "mutants" / name


class TaskError(ValueError):
    pass


def load_task(task_dir: Path) -> Task:
    spec = task_dir / "task.yaml"
    try:
        data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"{spec}: {exc}") from None
    try:
        task = Task.model_validate(data)
    except ValidationError as exc:
        raise TaskError(f"{spec}: {exc}") from None
    if task.id != task_dir.name:
        raise TaskError(f"{spec}: id {task.id!r} differs from its folder name {task_dir.name!r}")
    task.root = task_dir
    for needed in ("prompt.md", "oracle"):
        if not (task_dir / needed).exists():
            raise TaskError(f"{task_dir}: missing {needed}")
    for m in task.mutants:
        if not task.mutant_dir(m.name).is_dir():
            raise TaskError(f"{task_dir}: mutant folder mutants/{m.name} is missing")
    return task


def load_tasks(tasks_dir: Path, only: list[str] | None = None) -> list[Task]:
    if not tasks_dir.is_dir():
        raise TaskError(f"{tasks_dir} is not a folder of tasks")
    tasks = [load_task(d) for d in sorted(tasks_dir.iterdir()) if (d / "task.yaml").exists()]
    if only:
        wanted = set(only)
        tasks = [t for t in tasks if t.id in wanted or t.kind in wanted]
        missing = wanted - {t.id for t in tasks} - {t.kind for t in tasks}
        if missing:
            raise TaskError(f"unknown task ids: {sorted(missing)}")
    return tasks


class CheckResult(BaseModel):
    name: str
    passed: bool | None = Field(description="None: not run because a gate before it failed.")
    weight: float
    credit: float | None = Field(default=None, ge=0, le=1,
                                 description="Partial credit of a graded check (review); None: 1 if passed else 0.")
    detail: str = ""


class TaskResult(BaseModel):
    task: str
    kind: TaskKind
    families: list[str]
    attempt: int = 0
    agent: str = ""
    score: float
    passed: bool
    checks: list[CheckResult]
    error: str | None = None
    wall_s: float = 0.0
    # How the submission's code was contained: "full" (bubblewrap: namespaces, no network, private files),
    # "weak" (process containment only, --allow-weak-sandbox), "group"; None when no code ran (review tasks).
    sandbox: str | None = None
