"""PT-REP002 incomplete-seed."""

from __future__ import annotations

import ast

from ..analysis import Context, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule

# Seeding calls of one RNG family each (qualified names after alias resolution).
FAMILY_SEEDS = {
    "random.seed": "random",
    "numpy.random.seed": "numpy",
    "torch.manual_seed": "torch",
    "torch.random.manual_seed": "torch",
    "torch.cuda.manual_seed": "torch",
    "torch.cuda.manual_seed_all": "torch",
}
# Seeding-named calls that are not a delegated "seed everything": generator objects, reads of the seed.
GENERATOR_METHODS = {"manual_seed", "seed", "initial_seed", "SeedSequence", "get_rng_state", "default_rng"}
# Module-level functions that do not draw from the global RNG.
NOT_DRAWS = {
    "random": {"seed", "Random", "SystemRandom", "getstate", "setstate"},
    "numpy": {
        "seed", "default_rng", "RandomState", "Generator", "SeedSequence", "get_state", "set_state",
        "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64", "BitGenerator",
    },
}
TORCH_DRAWS = {
    "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
    "bernoulli", "multinomial", "poisson",
}
FAMILY_LABEL = {"random": "python `random`", "numpy": "`np.random`", "torch": "torch"}


class IncompleteSeed(Rule):
    code = "PT-REP002"
    name = "incomplete-seed"
    severity = Severity.medium
    summary = "Some RNGs are seeded but the file also draws from an RNG that stays unseeded"
    why = (
        "Each library keeps its own global generator: torch.manual_seed does not seed python's `random` "
        "or numpy, and np.random.seed does not seed torch. A train/val split made with an unseeded "
        "np.random.permutation changes every run even though the script 'sets the seed'."
    )
    fix_text = (
        "Seed every RNG the script draws from in one place: `random.seed(s); np.random.seed(s); "
        "torch.manual_seed(s)`, or use seeded generator objects (`np.random.default_rng(s)`)."
    )
    bad = (
        "import numpy as np\n"
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "idx = np.random.permutation(1000)\n"
        "train_idx, val_idx = idx[:800], idx[800:]\n"
    )
    good = (
        "import numpy as np\n"
        "import torch\n\n"
        "torch.manual_seed(0)\n"
        "rng = np.random.default_rng(0)\n"
        "idx = rng.permutation(1000)\n"
        "train_idx, val_idx = idx[:800], idx[800:]\n"
    )

    def check(self, ctx: Context):
        seed_calls = [c for name, calls in ctx.calls_by_name.items() if "seed" in name.lower() for c in calls]
        if not seed_calls:
            return
        seeded: set[str] = set()
        first: ast.Call | None = None
        local_functions = ctx.functions_by_name
        worker_inits = {
            kw.value.id for c in ctx.calls("DataLoader") for kw in c.keywords
            if kw.arg == "worker_init_fn" and isinstance(kw.value, ast.Name)
        }
        for call in sorted(seed_calls, key=lambda c: (c.lineno, c.col_offset)):
            q = ctx.call_qualname(call) or ""
            family = FAMILY_SEEDS.get(q)
            if family is not None:
                seeded.add(family)
                fn = ctx.enclosing_function(call)
                if first is None and (fn is None or fn.name not in worker_inits):
                    first = call  # the main seeding block, not the per-worker reseeding
            elif isinstance(call.func, ast.Name) and call.func.id in local_functions:
                continue  # a helper in this file: the calls in its body are looked at themselves
            elif (q.rsplit(".", 1)[-1] if q else call.func.attr) not in GENERATOR_METHODS:  # type: ignore[union-attr]
                return  # seed_everything / set_seed / utils.fix_seeds: a helper that seeds every RNG
        if first is None:
            return
        used = _unseeded_draws(ctx, seeded, seed_calls)
        if not used:
            return
        what = ", ".join(f"{FAMILY_LABEL[f]} (line {node.lineno})" for f, node in used.items())
        yield self.report(
            ctx,
            first,
            f"Seeding here covers {', '.join(sorted(FAMILY_LABEL[f] for f in seeded))} but the file also draws from "
            f"unseeded {what}",
        )


def _unseeded_draws(ctx: Context, seeded: set[str], seed_calls: list[ast.Call]) -> dict[str, ast.AST]:
    """First draw per RNG family that is used but not seeded (ignoring tests and seed generation)."""
    seed_arg_names = {
        dotted(n) for c in seed_calls for a in [*c.args, *(k.value for k in c.keywords)] for n in ast.walk(a)
        if isinstance(n, (ast.Name, ast.Attribute))
    }
    used: dict[str, ast.AST] = {}
    for call in ctx.nodes(ast.Call):
        q = ctx.call_qualname(call)  # type: ignore[arg-type]
        if not q:
            continue
        family = None
        if q.startswith("random.") and q.count(".") == 1 and ctx.imports.get("random", "random") == "random":
            if q.split(".", 1)[1] not in NOT_DRAWS["random"]:
                family = "random"
        elif q.startswith("numpy.random.") and q.count(".") == 2:
            if q.rsplit(".", 1)[1] not in NOT_DRAWS["numpy"]:
                family = "numpy"
        elif _draws_from_torch(ctx, call, q) and kwarg_value(call, "generator") is None:  # type: ignore[arg-type]
            family = "torch"
        if family is None or family in seeded or family in used:
            continue
        if _in_test(ctx, call) or _makes_seed(ctx, call, seed_arg_names):
            continue
        used[family] = call
    return used


def _draws_from_torch(ctx: Context, call: ast.Call, q: str) -> bool:
    """torch.randn/randperm/..., random_split, a shuffled DataLoader (global torch RNG)."""
    if q.startswith("torch.") and q.count(".") == 1 and q.split(".", 1)[1] in TORCH_DRAWS:
        return True
    if q.endswith("random_split"):
        return True
    return q.endswith("DataLoader") and const_value(kwarg_value(call, "shuffle")) is True


def _in_test(ctx: Context, node: ast.AST) -> bool:
    if ctx.filename.rsplit("/", 1)[-1].startswith("test_"):
        return True
    fn = ctx.enclosing_function(node)
    return fn is not None and fn.name.startswith("test")


def _makes_seed(ctx: Context, call: ast.AST, seed_arg_names: set[str | None]) -> bool:
    """`seed = random.randint(0, 2**31)` feeding a seeding call: drawing the seed itself is fine."""
    stmt = ctx.statement_of(call)
    if isinstance(stmt, ast.Assign):
        return any(dotted(t) in seed_arg_names for t in stmt.targets)
    return False
