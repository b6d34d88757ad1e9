"""Spec strings reach generated code only as literals: an injection payload through every string field of every
spec either fails validation with a clear message, or yields a program that parses and holds the payload only
inside string constants (never as code). One payload is also run end to end through `train.py --help`."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from pytorch_patterns.skill.generate import GENERATORS, spec_error_message

MARK = "PWNED_MARKER"
PAYLOADS = [
    f"x'); __import__('os').system('touch {MARK}'); ('",
    f'x"); __import__("os").system("touch {MARK}"); ("',
    f'x"""\n__import__("os").system("touch {MARK}")\n"""',
    f"x'''\n__import__('os').system('touch {MARK}')\n'''",
    f'data"""; __import__("os").system("touch {MARK}") #',
    f"data'''; __import__('os').system('touch {MARK}') #",
    f'trailing backslash \\" + __import__("os").system("touch {MARK}") + "\\',
    f"$data_path ${{x}} @@if ddp@@ {{}} %s \\N{{x}} __import__('os').system('touch {MARK}')",
    f"\\x27); __import__('os').system('touch {MARK}') #\\",
    f"a\rb; __import__('os').system('touch {MARK}')",
    f"nul\x00; __import__('os').system('touch {MARK}')",
]


def _unwrap(annotation):
    """Yield the concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _unwrap(arg)
    elif origin is typing.Annotated:
        yield from _unwrap(typing.get_args(annotation)[0])
    else:
        yield annotation


def _is_str_type(tp) -> bool:
    if tp is str:
        return True
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(arg, str) for arg in typing.get_args(tp))
    return False


def string_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], bool]]:
    """(dotted path, is a list of strings) for every str-valued field of `model`, nested models included."""
    found: list[tuple[tuple[str, ...], bool]] = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        for tp in _unwrap(field.annotation):
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                found += string_fields(tp, path)
            elif _is_str_type(tp):
                found.append((path, False))
            elif typing.get_origin(tp) in (list, tuple, set, frozenset) and any(
                _is_str_type(arg) for arg in typing.get_args(tp)
            ):
                found.append((path, True))
    return list(dict.fromkeys(found))


def _spec_with(path: tuple[str, ...], value) -> dict:
    spec: dict = {}
    node = spec
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return spec


CASES = [
    (kind, path, as_list)
    for kind, (spec_cls, _) in sorted(GENERATORS.items())
    for path, as_list in string_fields(spec_cls)
]


def test_enumeration_finds_the_string_fields():
    paths = {(kind, ".".join(path)) for kind, path, _ in CASES}
    # The free-text field every generator with data takes, plus Literal and list[str] fields.
    assert ("train-loop", "data.path") in paths
    assert ("dataset", "path") in paths
    assert ("train-loop", "data.transforms") in paths
    assert ("train-loop", "optimizer.name") in paths
    assert len(paths) >= 10


def _payload_outside_constants(code: str) -> list[str]:
    """Places where the payload became code: names/attributes it introduces, or its marker outside a str constant."""
    tree = ast.parse(code)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__import__":
            bad.append(f"line {node.lineno}: name __import__")
        if isinstance(node, ast.Attribute) and node.attr == "system":
            bad.append(f"line {node.lineno}: attribute .system")
        if isinstance(node, ast.Name) and MARK in node.id:
            bad.append(f"line {node.lineno}: name {node.id}")
    constants = " ".join(
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )
    if MARK in code and MARK not in constants:
        bad.append("payload marker outside any string constant")
    return bad


@pytest.mark.parametrize("kind,path,as_list", CASES, ids=[f"{k}:{'.'.join(p)}" for k, p, _ in CASES])
def test_injection_through_every_string_field(kind, path, as_list):
    _, generate = GENERATORS[kind]
    for payload in PAYLOADS:
        spec = _spec_with(path, [payload] if as_list else payload)
        try:
            result = generate(spec)
        except ValidationError as exc:
            message = spec_error_message(exc)
            assert "\n" not in message.strip() or message.count("\n") < 5, message
            assert path[-1] in message, f"message does not name the field: {message}"
            continue
        code = result.code
        ast.parse(code)  # must stay valid Python
        bad = _payload_outside_constants(code)
        assert not bad, f"{kind} {'.'.join(path)} payload {payload!r} became code: {bad}"
        # The payload, when accepted, is kept exactly: the --data-path default holds it as a literal.
        if path[-1] == "path":
            defaults = [
                kw.value.value
                for node in ast.walk(ast.parse(code))
                if isinstance(node, ast.Call)
                for kw in node.keywords
                if kw.arg == "default" and isinstance(kw.value, ast.Constant)
            ]
            assert payload in defaults, f"--data-path default lost the path {payload!r}"


def test_control_characters_in_path_rejected_with_one_clear_line():
    _, generate = GENERATORS["train-loop"]
    with pytest.raises(ValidationError) as info:
        generate({"data": {"path": "data\n__import__('os').system('id')"}})
    message = spec_error_message(info.value)
    assert "data.path" in message and "control character" in message
    assert "\n" not in message.strip()


@pytest.mark.parametrize("kind,filename", [("train-loop", "train.py"), ("dataset", "dataset.py")])
def test_generated_help_runs_no_payload(tmp_path: Path, kind: str, filename: str):
    _, generate = GENERATORS[kind]
    payload = f'x"""; __import__("os").system("touch {MARK}") #\'); __import__("os").system("touch {MARK}"); (\''
    spec = {"data": {"path": payload}} if kind == "train-loop" else {"path": payload}
    program = tmp_path / filename
    program.write_text(generate(spec).code)
    proc = subprocess.run(
        [sys.executable, str(program), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / MARK).exists(), "the payload ran"
    assert "--data-path" in proc.stdout
