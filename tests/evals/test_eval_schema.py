"""Bad task definitions fail to load with an error that names the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pytorch_patterns.evals.harness import BUILTIN_TASKS
from pytorch_patterns.evals.schema import TaskError, load_task, load_tasks

SOURCE = BUILTIN_TASKS / "fix-missing-zero-grad"


@pytest.fixture
def task_dir(tmp_path) -> Path:
    dest = tmp_path / "tasks" / SOURCE.name
    shutil.copytree(SOURCE, dest)
    return dest


def _edit(task_dir: Path, **changes) -> None:
    spec = task_dir / "task.yaml"
    data = yaml.safe_load(spec.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    spec.write_text(yaml.safe_dump(data))


def test_the_copy_loads(task_dir):
    task = load_task(task_dir)
    assert task.id == "fix-missing-zero-grad" and task.root == task_dir


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"kind": "benchmark"}, ["kind"]),
        ({"checks": [{"name": "runs_fast"}]}, ["checks", "name"]),
        ({"checks": [{"name": "runs", "wieght": 2}]}, ["wieght"]),
        ({"checks": [{"name": "runs", "weight": -1}]}, ["weight"]),
        ({"families": ["gpu"]}, ["families", "gpu"]),
        ({"steps": 2}, ["steps"]),
        ({"title": None}, ["title"]),
        ({"checks": []}, ["checks"]),
        ({"checks": [{"name": "runs"}, {"name": "runs"}]}, ["each check may appear once"]),
        ({"mutants": [{"name": "zero-grad-before-loop", "fails": "trains_model"}]}, ["zero-grad-before-loop", "trains_model"]),
        ({"mutants": [{"name": "zero-grad-before-loop", "fails": "zero_grad", "also_fail": ["resume"]}]}, ["also_fail"]),
        ({"kind": "review"}, ["expected"]),
        ({"kind": "implement"}, ["reference"]),
        ({"id": "Bad Id"}, ["id"]),
    ],
)
def test_bad_field_is_named(task_dir, changes, words):
    _edit(task_dir, **changes)
    with pytest.raises(TaskError) as info:
        load_task(task_dir)
    message = str(info.value)
    assert "task.yaml" in message
    for word in words:
        assert word in message


def test_id_must_match_folder(task_dir):
    _edit(task_dir, id="another-name")
    with pytest.raises(TaskError, match="differs from its folder name"):
        load_task(task_dir)


def test_missing_prompt_and_mutant_folder(task_dir):
    (task_dir / "prompt.md").unlink()
    with pytest.raises(TaskError, match="prompt.md"):
        load_task(task_dir)
    (task_dir / "prompt.md").write_text("x")
    shutil.rmtree(task_dir / "mutants" / "unseeded")
    with pytest.raises(TaskError, match="mutants/unseeded"):
        load_task(task_dir)


def test_invalid_yaml_names_the_file(task_dir):
    (task_dir / "task.yaml").write_text("id: [unclosed\n")
    with pytest.raises(TaskError, match="task.yaml"):
        load_task(task_dir)


def test_unknown_only_is_an_error(task_dir):
    with pytest.raises(TaskError, match="no-such-task"):
        load_tasks(task_dir.parent, ["no-such-task"])
    assert [t.id for t in load_tasks(task_dir.parent, ["fix"])] == ["fix-missing-zero-grad"]
