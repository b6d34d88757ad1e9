"""PT-OPT003 misaligned-accumulation: gradient-accumulation windows that do not hold k micro-batches."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, const_value, dotted, kwarg_value
from ..models import Severity
from ..rule import Rule
from ..semantics import is_test_function, mutually_exclusive, walk_no_defs
from ._trainloop import branch_chain, events, loop_source, site, training_loops


def modulo_test(test: ast.AST) -> tuple[ast.AST, ast.AST, str] | None:
    """(counter expr, k, form) for `c % k == 0` / `not c % k` ('zero') and `(c + 1) % k == 0` ('plus1')."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        mod = test.operand
    elif (
        isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
        and const_value(test.comparators[0]) == 0
    ):
        mod = test.left
    else:
        return None
    if not (isinstance(mod, ast.BinOp) and isinstance(mod.op, ast.Mod)):
        return None
    left, k = mod.left, mod.right
    if const_value(k) in (0, 1):
        return None
    if isinstance(left, ast.Name):
        return left, k, "zero"
    if (
        isinstance(left, ast.BinOp) and isinstance(left.op, ast.Add) and isinstance(left.left, ast.Name)
        and const_value(left.right) == 1
    ):
        return left.left, k, "plus1"
    return None


def _accumulation_ifs(ctx: Context, loop: ast.AST, evs) -> list[tuple[ast.If, tuple, list]]:
    out = []
    for node in walk_no_defs(loop):
        if not isinstance(node, ast.If) or node is loop:
            continue
        steps = [e for e in evs if e.kind in ("step", "scaler_step") and any(ctx.is_inside(e.anchor, s) or e.anchor is s for s in node.body)]
        if not steps:
            continue
        if any(e.kind == "backward" and (e.anchor is node or ctx.is_inside(e.anchor, node)) for e in evs):
            continue  # backward and step inside the condition: a periodic update (GAN generator), not accumulation
        parts = modulo_test(node.test)
        if parts is None and isinstance(node.test, ast.BoolOp):
            for v in node.test.values:
                if modulo_test(v):
                    out.append((node, None, steps))  # an accumulation test with extra conditions
                    break
            continue
        if parts is not None:
            out.append((node, parts, steps))
    return out


class MisalignedAccumulation(Rule):
    code = "PT-OPT003"
    name = "misaligned-accumulation"
    severity = Severity.high
    summary = "Gradient-accumulation window misaligned: stepping before k micro-batches, zeroing inside the window, or a last partial window never stepped"
    why = (
        "With accumulation, each optimizer step should apply the summed gradients of exactly k micro-batches. "
        "`if step % k == 0` with a 0-based counter steps after the first micro-batch (and every window after is "
        "offset); a `zero_grad()` that runs every micro-batch throws away all but the last one, so the effective "
        "batch is 1/k of the intended size; and a loop whose length is not a multiple of k leaves the last "
        "gradients unapplied (and leaking into the next epoch's first step)."
    )
    fix_text = (
        "Count from 1: `if (step + 1) % k == 0:` (or increment before the test); call `zero_grad()` only right "
        "after `step()`; step once more after the loop or test `(step + 1) % k == 0 or step + 1 == len(loader)`."
    )
    bad = (
        "for step, (x, y) in enumerate(loader):\n"
        "    loss = criterion(model(x), y) / accum_steps\n"
        "    loss.backward()\n"
        "    if step % accum_steps == 0:\n"
        "        optimizer.step()\n"
        "        optimizer.zero_grad()\n"
    )
    good = (
        "for step, (x, y) in enumerate(loader):\n"
        "    loss = criterion(model(x), y) / accum_steps\n"
        "    loss.backward()\n"
        "    if (step + 1) % accum_steps == 0 or step + 1 == len(loader):\n"
        "        optimizer.step()\n"
        "        optimizer.zero_grad()\n"
    )

    def check(self, ctx: Context):
        if not ctx.nodes(ast.BinOp):
            return
        for loop in training_loops(ctx):
            if is_test_function(ctx, ctx.enclosing_function(loop)):
                continue
            evs = events(ctx, loop)
            ifs = _accumulation_ifs(ctx, loop, evs)
            if not ifs:
                continue
            backs = [e for e in evs if e.kind == "backward"]
            for node, parts, steps in ifs:
                if parts is None:
                    continue
                counter, k, form = parts
                if form == "zero" and self._zero_based(ctx, loop, counter, node) and any(
                    b.key < (node.lineno, node.col_offset) for b in backs
                ):
                    yield self.report(
                        ctx, node.test,
                        f"`{ast.unparse(node.test)}` with `{counter.id}` counting from 0 steps after the first "  # type: ignore[attr-defined]
                        f"micro-batch, so every window is off by one and the first step uses 1 micro-batch instead of {ast.unparse(k)}",
                    )
                elif form == "plus1" and self._last_window_dropped(ctx, loop, counter, steps):
                    d = self.report(
                        ctx, node.test,
                        f"The last partial window is never stepped: when the loader's length is not a multiple of "
                        f"{ast.unparse(k)}, the last micro-batches' gradients leak into the next epoch's first step "
                        "(and are lost after the last epoch)",
                    )
                    d.extra["severity"] = Severity.medium
                    yield d
            # zero_grad every micro-batch, outside the accumulation condition
            targets = {s.target for _, _, st in ifs for s in st}
            for z in evs:
                if z.kind != "zero_grad" or branch_chain(ctx, z.anchor, loop):
                    continue
                if z.target not in targets and not any(t and z.target and (z.target + ".parameters") in self._opt_text(ctx, t, loop) for t in targets):
                    continue
                if any(ctx.is_inside(z.anchor, n) for n, _, _ in ifs):
                    continue
                if not backs or any(mutually_exclusive(ctx, z.anchor, n) for n, _, _ in ifs):
                    continue
                yield self.report(
                    ctx, site(ctx, z),
                    "`zero_grad()` runs on every micro-batch while `step()` runs every k: each step applies only "
                    "the last micro-batch's gradients, not the accumulated window",
                )

    @staticmethod
    def _opt_text(ctx: Context, target: str, loop: ast.AST) -> str:
        for a in ctx.nodes(ast.Assign):
            if any((dotted(t) or "").removeprefix("self.") == target for t in a.targets):  # type: ignore[union-attr]
                return ast.unparse(a.value).replace("self.", "")  # type: ignore[union-attr]
        return ""

    @staticmethod
    def _zero_based(ctx: Context, loop: ast.AST, counter: ast.Name, test_at: ast.If) -> bool:
        """`counter` is the loop's 0-based enumerate index, or a counter set to 0 and incremented after the test."""
        if isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(loop.iter, ast.Call) and callee_name(loop.iter) == "enumerate":
            tgt = loop.target
            if isinstance(tgt, ast.Tuple) and tgt.elts and isinstance(tgt.elts[0], ast.Name) and tgt.elts[0].id == counter.id:
                start = loop.iter.args[1] if len(loop.iter.args) > 1 else kwarg_value(loop.iter, "start")
                return start is None or const_value(start) == 0
        if isinstance(loop, (ast.For, ast.AsyncFor)) and counter.id in {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}:
            if isinstance(loop.iter, ast.Call) and callee_name(loop.iter) == "range":
                return len(loop.iter.args) == 1 or (len(loop.iter.args) >= 2 and const_value(loop.iter.args[0]) == 0)
            return False
        # a hand counter: `step = 0` before the loop, `step += 1` in the body after the test
        incs = [
            n for n in walk_no_defs(loop)
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == counter.id
        ]
        if len(incs) != 1 or (incs[0].lineno, incs[0].col_offset) < (test_at.lineno, test_at.col_offset):
            return False
        if ctx.loops_around(incs[0])[:1] != [loop]:
            return False
        fn = ctx.enclosing_function(loop) or ctx.tree
        inits = [
            a for a in walk_no_defs(fn)
            if isinstance(a, ast.Assign) and any(isinstance(t, ast.Name) and t.id == counter.id for t in a.targets)
            and not ctx.is_inside(a, loop)
        ]
        return bool(inits) and all(const_value(a.value) == 0 for a in inits)

    @staticmethod
    def _last_window_dropped(ctx: Context, loop: ast.AST, counter: ast.Name, steps) -> bool:
        """A loop over a loader of unknown length, `(i + 1) % k` stepping, no step after the loop."""
        if loop_source(loop) is None or not isinstance(loop, (ast.For, ast.AsyncFor)):
            return False
        tgt = loop.target
        if not (isinstance(tgt, ast.Tuple) and tgt.elts and isinstance(tgt.elts[0], ast.Name) and tgt.elts[0].id == counter.id):
            return False
        if loop.orelse:
            return False
        parent = ctx.parent(loop)
        body = getattr(parent, "body", None)
        if not isinstance(body, list) or loop not in body:
            return False
        after = body[body.index(loop) + 1:]
        targets = {s.target for s in steps}
        for stmt in after:
            for e in events(ctx, stmt):
                if e.kind in ("step", "scaler_step") and (e.target in targets or not e.target):
                    return False
        # a step after an outer loop (per-epoch flush) also counts
        for outer in ctx.loops_around(loop):
            p = ctx.parent(outer)
            ob = getattr(p, "body", None)
            if isinstance(ob, list) and outer in ob:
                for stmt in ob[ob.index(outer) + 1:]:
                    if any(e.kind in ("step", "scaler_step") for e in events(ctx, stmt)):
                        return False
        return True
