"""The project index and function summaries (skill/review/project.py, summaries.py), and target-torch."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from pytorch_patterns.cli import main
from pytorch_patterns.skill.review.analysis import Context
from pytorch_patterns.skill.review.config import ConfigError, ReviewConfig, load_config
from pytorch_patterns.skill.review.project import Project


def _ctx(src: str, name: str = "x.py") -> Context:
    src = textwrap.dedent(src)
    return Context(src, ast.parse(src), name)


def _call(ctx: Context, name: str) -> ast.Call:
    return ctx.calls(name)[-1]


def _tree(tmp_path: Path, files: dict[str, str]) -> tuple[Project, dict[str, Context]]:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    proj = Project([str(tmp_path / rel) for rel in files])
    ctxs = {rel: proj.context(str(tmp_path / rel)) for rel in files}
    return proj, ctxs


def test_summary_maps_parameters_to_the_callers_names() -> None:
    ctx = _ctx("""
        def evaluate(model, loader):
            model.eval()

        def set_mode(m, training):
            m.train(training)

        def update(optimizer, loss):
            loss.backward()
            optimizer.step()

        evaluate(net, dl)
        set_mode(net, False)
        update(optD, d_loss)
    """)
    proj = ctx.project
    assert proj.effects_at(ctx, _call(ctx, "evaluate")).sets_mode == [("net", False)]
    assert proj.effects_at(ctx, _call(ctx, "set_mode")).sets_mode == [("net", False)]
    eff = proj.effects_at(ctx, _call(ctx, "update"))
    assert eff.steps == {"optD"} and eff.calls_backward


def test_methods_instances_partial_and_nested_defs_resolve() -> None:
    ctx = _ctx("""
        import functools

        class Trainer:
            def __init__(self, model, opt):
                self.model, self.opt = model, opt

            def _clear(self):
                self.opt.zero_grad(set_to_none=True)

            def validate(self):
                self.model.eval()

            def fit(self):
                self._clear()

        def outer(model):
            def inner():
                model.eval()
            inner()

        t = Trainer(net, sgd)
        t.validate()
        run = functools.partial(outer, net)
        run()
    """)
    proj = ctx.project
    assert proj.effects_at(ctx, _call(ctx, "_clear")).zeroes == {"self.opt"}
    assert proj.effects_at(ctx, _call(ctx, "validate")).sets_mode == [("t.model", False)]
    assert proj.effects_at(ctx, _call(ctx, "inner")).sets_mode == [("model", False)]
    assert proj.effects_at(ctx, _call(ctx, "run")).sets_mode == [("net", False)]
    fit = ctx.functions_by_name["fit"][0]
    assert proj.summary(fit).zeroes == {"self.opt"}


def test_imports_resolve_inside_the_tree_only(tmp_path: Path) -> None:
    proj, ctxs = _tree(tmp_path, {
        "pkg/__init__.py": "from .engine import evaluate\n",
        "pkg/engine.py": """
            import torch

            @torch.no_grad()
            def evaluate(model, loader):
                model.eval()
        """,
        "pkg/train.py": """
            import torch
            from . import engine
            from .engine import evaluate
            from pkg import evaluate as ev2
            engine.evaluate(net, dl)
            evaluate(net, dl)
            ev2(net, dl)
            torch.manual_seed(0)
        """,
        "scripts/run.py": """
            import utils
            utils.seed_all(3)
        """,
        "scripts/utils.py": """
            import random
            def seed_all(s):
                random.seed(s)
        """,
    })
    train = ctxs["pkg/train.py"]
    for call in train.calls("evaluate") + train.calls("ev2"):
        eff = proj.effects_at(train, call)
        assert eff is not None and eff.sets_mode == [("net", False)] and eff.disables_grad
    assert proj.effects_at(train, _call(train, "manual_seed")) is None  # torch is not in the tree
    run = ctxs["scripts/run.py"]
    assert proj.effects_at(run, _call(run, "seed_all")).seeds == {"random"}
    # callers across files
    engine = ctxs["pkg/engine.py"]
    fn = engine.functions_by_name["evaluate"][0]
    assert {c.lineno for other, c in proj.callers(engine, fn) if other is train} == {6, 7, 8}


def test_recursion_is_cut() -> None:
    ctx = _ctx("""
        def a(model):
            model.eval()
            b(model)

        def b(model):
            a(model)
    """)
    fn = ctx.functions_by_name["b"][0]
    assert ctx.project.summary(fn).sets_mode == [("model", False)]


def test_target_torch_config_and_flag(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text('[tool.pytorch-patterns]\ntarget-torch = "2.4"\n')
    assert load_config(cfg).target_torch == "2.4"
    assert ReviewConfig().target_torch == "2.6"  # default
    cfg.write_text('[tool.pytorch-patterns]\ntarget-torch = "new"\n')
    with pytest.raises(ConfigError):
        load_config(cfg)
    script = tmp_path / "load.py"
    script.write_text("import torch\nstate = torch.load('m.pt')\n")
    args = ["review", "--no-config", "--format", "json", "--select", "PT-IO002", str(script)]
    assert main([*args, "--target-torch", "two"]) == 2
    assert "--target-torch" in capsys.readouterr().err
    main([*args, "--target-torch", "2.4"])
    old = capsys.readouterr().out
    main([*args, "--target-torch", "2.6"])
    new = capsys.readouterr().out
    assert '"high"' in old and '"low"' in new
