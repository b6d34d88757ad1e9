"""PT-PERF001 per-step-host-sync."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, receiver
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls

SYNC_METHODS = {"item", "cpu", "numpy", "tolist"}
MODULE_METHODS = {"parameters", "named_parameters", "state_dict", "buffers", "modules", "children", "eval", "train"}
# Conditions that hold on every step once switched on: logging backends, the main process.
PER_STEP_FLAG_RE = re.compile(r"wandb|tensorboard|writer|^tb$|_tb$|verbose|mlflow|neptune|^log$|^use_log|rank|main_process|master", re.IGNORECASE)
FINITE_CHECKS = {"isfinite", "isnan", "isinf", "isnan_", "nan_to_num"}


class PerStepHostSync(Rule):
    code = "PT-PERF001"
    name = "per-step-host-sync"
    severity = Severity.low
    default_enabled = False  # a per-step sync for logging costs little on most models: opt-in
    summary = "Host sync (.item()/.cpu()/.numpy()/.tolist()/print(tensor)) on every training step"
    why = (
        "Reading a CUDA tensor's value on the host waits for every queued kernel to finish, so the "
        "CPU cannot run ahead and launch the next step while the GPU works; with small models the GPU "
        "then idles between steps."
    )
    fix_text = (
        "Accumulate on the device (`running += loss.detach()`) and call `.item()` only every "
        "`log_every` steps or at the end of the epoch."
    )
    bad = (
        "import torch\n\n"
        "device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
        "running = 0.0\n"
        "for x, y in loader:\n"
        "    x, y = x.to(device), y.to(device)\n"
        "    loss = criterion(model(x), y)\n"
        "    optimizer.zero_grad()\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    running += loss.item()\n"
    )
    good = (
        "import torch\n\ntorch.manual_seed(0)\n"
        "device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
        "running = torch.zeros((), device=device)\n"
        "for step, (x, y) in enumerate(loader):\n"
        "    x, y = x.to(device), y.to(device)\n"
        "    loss = criterion(model(x), y)\n"
        "    optimizer.zero_grad()\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    running += loss.detach()\n"
        "    if step % 100 == 0:\n"
        "        print(f'loss {running.item() / (step + 1):.4f}')\n"
    )

    def check(self, ctx: Context):
        backs = backward_calls(ctx)
        if not backs:
            return
        # per-iteration bodies: loops that call backward, and step functions (backward, no loop of
        # their own) that are called inside a loop
        train_loops: dict[int, ast.AST] = {}
        loss_names: set[str] = set()
        for back in backs:
            loops = ctx.loops_around(back)
            if loops:
                train_loops[id(loops[0])] = loops[0]
            else:
                fn = ctx.enclosing_function(back)
                if fn is not None and any(
                    ctx.loops_around(site) and not ctx.is_inside(site, fn) for site in ctx.calls(fn.name)
                ):
                    train_loops[id(fn)] = fn
            recv = receiver(back)
            if isinstance(recv, ast.Name):
                loss_names.add(recv.id)
        if not train_loops:
            return
        seen_lines: set[int] = set()
        for call in ctx.calls(*SYNC_METHODS, "print"):
            if call.lineno in seen_lines or not self._is_sync(ctx, call, loss_names):
                continue
            loops = ctx.loops_around(call)
            body = loops[0] if loops else ctx.enclosing_function(call)
            if body is None or id(body) not in train_loops:
                continue
            loop = body
            if self._conditional(ctx, call, loop) or self._nan_check(ctx, call, loop) or self._needed(ctx, call, loop):
                continue
            seen_lines.add(call.lineno)
            yield self.report(ctx, call)

    @staticmethod
    def _is_sync(ctx: Context, call: ast.Call, loss_names: set[str]) -> bool:
        name = callee_name(call)
        if name in SYNC_METHODS:
            parent = ctx.parent(call)
            if name == "cpu" and (
                isinstance(parent, ast.Expr) or (isinstance(parent, ast.Attribute) and parent.attr in MODULE_METHODS)
            ):
                return False  # `ema_model.cpu()`, `m.cpu().parameters()`: moving a module
            return isinstance(call.func, ast.Attribute) and not call.args and not call.keywords
        # print(loss) / print(f"{loss}") formats the tensor: a sync
        for arg in call.args:
            values = [v.value for v in arg.values if isinstance(v, ast.FormattedValue)] if isinstance(arg, ast.JoinedStr) else [arg]
            if any(isinstance(v, ast.Name) and v.id in loss_names for v in values):
                return True
        return False

    @staticmethod
    def _conditional(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """Inside an if/else branch (other than a per-step switch such as `if args.wandb:` or
        `if rank == 0:`), an except handler or a nested function within the loop body."""
        child: ast.AST = call
        for anc in ctx.ancestors(call):
            if anc is loop:
                return False
            if isinstance(anc, (ast.If, ast.IfExp)) and child is not anc.test:
                in_body = child in anc.body if isinstance(anc, ast.If) else child is anc.body
                if not (in_body and _per_step_switch(anc.test)):
                    return True
            if isinstance(anc, (ast.ExceptHandler, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return True
            child = anc
        return False

    @staticmethod
    def _needed(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """Syncs the step cannot avoid: assertions (tests), and values handed to `env.step(...)` (RL)."""
        stmt = ctx.statement_of(call)
        if isinstance(stmt, ast.Assert):
            return True
        for anc in ctx.ancestors(call):
            if anc is stmt:
                break
            if isinstance(anc, ast.Call) and (callee_name(anc) or "").startswith("assert"):
                return True
        for anc in ctx.ancestors(call):
            if anc is stmt:
                break
            if isinstance(anc, ast.Call) and _is_env_step(anc):
                return True
        names = {n for t in stmt.targets if (n := dotted(t))} if isinstance(stmt, ast.Assign) else set()
        if names:
            for node in ast.walk(loop):
                if isinstance(node, ast.Call) and _is_env_step(node) and any(dotted(a) in names for a in node.args):
                    return True
        return False

    @staticmethod
    def _nan_check(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
        """`math.isfinite(loss.item())`, or `v = loss.item()` with `v` checked for NaN/inf in the loop."""
        stmt = ctx.statement_of(call)
        if stmt is None:
            return False
        if any(isinstance(n, ast.Call) and callee_name(n) in FINITE_CHECKS for n in ast.walk(stmt)):
            return True
        if isinstance(stmt, ast.Assign):
            names = {dotted(t) for t in stmt.targets}
            for n in ast.walk(loop):
                if isinstance(n, ast.Call) and callee_name(n) in FINITE_CHECKS and any(dotted(a) in names for a in n.args):
                    return True
        return False


def _is_env_step(call: ast.Call) -> bool:
    """`env.step(action)` of a Gym-style environment."""
    recv = receiver(call)
    return callee_name(call) == "step" and recv is not None and "env" in (dotted(recv) or "").lower()


def _per_step_switch(test: ast.AST) -> bool:
    """`args.wandb`, `writer is not None`, `rank == 0`, `accelerator.is_main_process`: true on every step."""
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.BoolOp):
        return all(_per_step_switch(v) for v in test.values)
    if isinstance(test, ast.Compare):
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod) for n in ast.walk(test)):
            return False  # step % log_every == 0
        sides = [test.left, *test.comparators]
        return any(_flag_name(x) for x in sides)
    if isinstance(test, ast.Call):
        return _flag_name(test.func)
    return _flag_name(test)


def _flag_name(node: ast.AST) -> bool:
    name = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
    return bool(name) and bool(PER_STEP_FLAG_RE.search(name.rsplit(".", 1)[-1]))  # type: ignore[union-attr]
