"""PT-REP001 no-seed."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted
from ..models import Severity
from ..rule import Rule
from ..semantics import is_main_guard, is_runnable_training_script
from .opt001_optimizer_recreated_in_loop import optimizer_constructions


def seeds_somewhere(ctx: Context) -> bool:
    """Any call whose name contains 'seed' (manual_seed, seed_everything, set_seed, np.random.seed...),
    or a seeding helper imported by name: seeding is then done, or delegated."""
    if any("seed" in name.lower() for name in ctx.calls_by_name):
        return True
    if any("seed" in local.lower() for local in ctx.imports) or "hydra" in ctx.imports:
        return True
    # a seed handed to a helper or framework: `setup(cfg.seed)`, `DataModule(seed=42)`
    for call in ctx.nodes(ast.Call):
        if any(kw.arg and "seed" in kw.arg.lower() for kw in call.keywords):  # type: ignore[union-attr]
            return True
        for arg in call.args:  # type: ignore[union-attr]
            name = dotted(arg) or ""
            if "seed" in name.rsplit(".", 1)[-1].lower():
                return True
    return False


class NoSeed(Rule):
    code = "PT-REP001"
    name = "no-seed"
    severity = Severity.medium
    summary = "Training script never seeds the random number generators"
    why = (
        "Weight initialisation, dropout masks, data shuffling and augmentation all draw from the RNGs. "
        "Without a seed every run differs, so a change in the loss curve cannot be told apart from noise "
        "and a bug cannot be reproduced."
    )
    fix_text = (
        "Seed once at start-up: `torch.manual_seed(seed)` (seeds CPU and every CUDA device), plus "
        "`random.seed(seed)` / `np.random.seed(seed)` if those RNGs are used."
    )
    bad = (
        "import torch\n"
        "from torch import nn\n\n"
        "def main():\n"
        "    model = nn.Linear(10, 1)\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    for _ in range(100):\n"
        "        x, y = torch.randn(32, 10), torch.randn(32, 1)\n"
        "        loss = nn.functional.mse_loss(model(x), y)\n"
        "        opt.zero_grad()\n"
        "        loss.backward()\n"
        "        opt.step()\n\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    good = bad.replace("def main():\n", "def main():\n    torch.manual_seed(0)\n")

    def check(self, ctx: Context):
        anchor = ctx.first_torch_import
        if anchor is None:
            return
        if not ctx.calls("backward") and not any(is_main_guard(n) for n in ctx.tree.body):
            return  # cheap gate: neither trains nor runs
        if seeds_somewhere(ctx) or _seeds_via_helper(ctx) or _optimises_inputs_deterministically(ctx):
            return
        if ctx.calls("backward"):
            runnable = is_runnable_training_script(ctx) or _module_level_training_call(ctx)
            if not runnable or not _has_optimizer_step(ctx):
                return  # a library module, or backward for saliency/attacks in an inference script
        elif not (any(is_main_guard(n) for n in ctx.tree.body) and _trains_without_backward(ctx)):
            return
        yield self.report_at(
            ctx,
            anchor.lineno,
            anchor.col_offset,
            "Training script never seeds its RNGs (no torch.manual_seed / seed_everything / set_seed): runs are not reproducible",
        )


RANDOM_DRAWS = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal_", "uniform_",
                "bernoulli", "multinomial", "random", "choice", "shuffle", "sample", "permutation", "Dropout"}


def _optimises_inputs_deterministically(ctx: Context) -> bool:
    """Every optimizer updates explicit tensors (`LBFGS([image])`: style transfer, model inversion) rather than a
    model's parameters, and the file draws no random numbers: there is nothing for a seed to fix."""
    from .io004_incomplete_resume_checkpoint import OPTIMIZER_CLASSES

    opts = [c for c in ctx.calls(*OPTIMIZER_CLASSES)]
    if not opts:
        return False
    for c in opts:
        first = c.args[0] if c.args else None
        if not (isinstance(first, (ast.List, ast.Tuple)) and first.elts and all(isinstance(e, ast.Name) for e in first.elts)):
            return False
    if any(kw.arg == "shuffle" for c in ctx.nodes(ast.Call) for kw in c.keywords):  # type: ignore[attr-defined]
        return False
    return not ctx.calls(*RANDOM_DRAWS)


def _seeds_via_helper(ctx: Context) -> bool:
    """A call to a function of the reviewed tree that seeds (`setup(args)` in utils.py calling
    `torch.manual_seed`), found through the function summaries."""
    proj = ctx.project
    for call in ctx.nodes(ast.Call):
        eff = proj.effects_at(ctx, call)  # type: ignore[arg-type]
        if eff is not None and eff.seeds:
            return True
    return False


def _has_optimizer_step(ctx: Context) -> bool:
    """Evidence that parameters are updated: an optimizer's step(), or a manual `p -= lr * p.grad`."""
    if ctx.calls("step"):
        return True
    for aug in ctx.nodes(ast.AugAssign):
        if isinstance(aug.op, ast.Sub) and any(  # type: ignore[union-attr]
            isinstance(n, ast.Attribute) and n.attr == "grad" for n in ast.walk(aug.value)  # type: ignore[union-attr]
        ):
            return True
    return any(callee_name(c) in {"sub_", "add_"} for c in ctx.calls("sub_", "add_"))


def _trains_without_backward(ctx: Context) -> bool:
    """A script whose training loop lives elsewhere: it builds an optimizer or calls `trainer.fit(...)`."""
    return bool(optimizer_constructions(ctx)) or any(isinstance(c.func, ast.Attribute) for c in ctx.calls("fit"))


def _module_level_training_call(ctx: Context) -> bool:
    """A script without a `__main__` guard that calls its own training function at module level
    (`train()` as the last line): that function, or one it calls, runs backward()."""
    training: set[str] = set()
    for back in ctx.calls("backward"):
        fn = ctx.enclosing_function(back)
        if fn is not None:
            training.add(fn.name)
    if not training:
        return False
    for name in list(training):  # one level up: main() calls train()
        for call in ctx.calls(name):
            caller = ctx.enclosing_function(call)
            if caller is not None:
                training.add(caller.name)
    for stmt in ctx.tree.body:
        calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)] if isinstance(stmt, (ast.Expr, ast.Assign, ast.For, ast.While)) else []
        if any(isinstance(c.func, ast.Name) and c.func.id in training for c in calls):
            return True
    return False
