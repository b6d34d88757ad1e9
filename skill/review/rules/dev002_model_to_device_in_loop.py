"""PT-DEV002 model-to-device-in-loop."""

from __future__ import annotations

import ast

from ..analysis import Context, callee_name, dotted, kwarg_value, target_names
from ..models import Severity
from ..rule import Rule
from ..semantics import backward_calls, call_sites, is_model_expr, is_training_loop

DTYPE_NAMES = {
    "float", "float16", "float32", "float64", "half", "double", "bfloat16", "int8", "uint8", "long", "int", "bool",
    "channels_last", "contiguous_format",
}


def _is_cpu_target(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("cpu")


class ModelToDeviceInLoop(Rule):
    code = "PT-DEV002"
    name = "model-to-device-in-loop"
    severity = Severity.low
    summary = "The trained model is moved to the device inside the training loop"
    why = (
        "`model.to(device)` walks every parameter and buffer; doing it each batch or epoch is wasted work, and "
        "it signals a confused lifecycle: the optimizer must be built over parameters that already live on the "
        "device (moving afterwards is only safe because .to() moves in place for modules)."
    )
    fix_text = "Move the model once, before creating the optimizer, and only move the batch inside the loop."
    bad = "for x, y in loader:\n    model.to(device)\n    loss = criterion(model(x), y)\n    loss.backward()\n"
    good = (
        "model.to(device)  # once\noptimizer = SGD(model.parameters())\nfor x, y in loader:\n"
        "    loss = criterion(model(x.to(device)), y.to(device))\n    loss.backward()\n"
    )

    def check(self, ctx: Context):
        calls = ctx.calls("to", "cuda")
        per_step = list(self._moved_by_step_helper(ctx))
        moved_per_step = {id(move) for _, move in per_step}
        yield from (d for d, _ in per_step)
        if not calls:
            return
        for call in calls:
            if not isinstance(call.func, ast.Attribute):
                continue
            recv = call.func.value
            if not isinstance(recv, (ast.Name, ast.Attribute)) or not is_model_expr(ctx, recv):
                continue
            if callee_name(call) == "to" and not self._moves_to_device(call):
                continue
            name = dotted(recv)
            loops = ctx.loops_around(call)
            train_loops = [lp for lp in loops if is_training_loop(ctx, lp)]
            if train_loops:
                outer = train_loops[-1]
                if self._rebuilt_in(ctx, name, outer) or self._offloaded_in(ctx, name, outer):
                    continue
                if _in_checkpoint_branch(ctx, call, outer):
                    continue  # `if step % k == 0: model.cpu(); torch.save(...); model.to(device)`: not every step
                yield self.report(ctx, call, f"`{name}` is moved to the device on every iteration of the training loop")
            elif not loops and id(call) not in moved_per_step and self._in_per_epoch_helper(ctx, call, name):
                yield self.report(
                    ctx, call, f"`{name}` is moved to the device by a training function that runs once per epoch"
                )

    def _moved_by_step_helper(self, ctx: Context):
        """`train_step(model, batch, device)` called every iteration, whose body runs `model.to(device)`:
        (diagnostic, the move call)."""
        reported: set[int] = set()
        proj = ctx.project
        if not ctx.nodes(ast.For, ast.AsyncFor, ast.While):
            return
        if "backward" not in ctx.source and not proj.may_import(ctx, ("backward",)):
            return  # no training loop can run here
        if not ("to(" in ctx.source or "cuda(" in ctx.source) and not proj.may_import(ctx, ("to(", "cuda(")):
            return  # no helper that moves anything
        for n in ctx.nodes(ast.Call):
            if isinstance(n.func, ast.Attribute) and n.func.attr in {"to", "cuda"}:
                continue
            if not (n.args or n.keywords or isinstance(n.func, ast.Attribute)):
                continue
            loops = ctx.loops_around(n)
            if not loops:
                continue
            if not any(isinstance(a, (ast.Name, ast.Attribute)) and is_model_expr(ctx, a)
                       for a in (*n.args, *(k.value for k in n.keywords))) and not (
                    isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id == "self"):
                continue  # cheap exit: no model handed over (nor a method of the caller's own object)
            loop = loops[0]
            found = self._helper_move(ctx, n)
            if found is None:
                continue
            name, fn, move = found
            if not (is_training_loop(ctx, loop) or self._runs_backward(ctx, loop)):
                continue
            if self._rebuilt_in(ctx, name, loop) or self._offloaded_in(ctx, name, loop) or _in_checkpoint_branch(ctx, n, loop):
                continue
            if id(move) in reported:
                continue
            reported.add(id(move))
            if ctx.project.home(ctx, move) is ctx:  # the helper is in this file: report the move itself
                yield self.report(ctx, move, (
                    f"`{fn.name}()` moves the model to the device on every call, and it runs on every iteration "
                    f"of the training loop (line {n.lineno}): move it once before the loop"
                )), move
            else:
                yield self.report(ctx, n, (
                    f"`{name}` is moved to the device on every iteration of the training loop: `{fn.name}()` "
                    f"calls `.{callee_name(move)}()` on it; move it once before the loop"
                )), move

    def _own_moves(self, ctx: Context, fn: ast.AST) -> list[tuple[ast.Call, str]]:
        """(`x.to(device)` / `x.cuda()` call, receiver) in `fn`'s own body, outside loops (cached per function)."""
        memo = ctx.__dict__.setdefault("_pp_dev002_own_moves", {})
        got = memo.get(id(fn))
        if got is None:
            got = []
            for move in ast.walk(fn):
                if not (isinstance(move, ast.Call) and isinstance(move.func, ast.Attribute) and move.func.attr in {"to", "cuda"}):
                    continue
                if ctx.enclosing_function(move) is not fn or ctx.loops_around(move):
                    continue
                if move.func.attr == "to" and not self._moves_to_device(move):
                    continue
                got.append((move, dotted(_strip_mode_calls(move.func.value)) or ""))
            memo[id(fn)] = got
        return got

    @staticmethod
    def _runs_backward(ctx: Context, loop: ast.AST) -> bool:
        for n in ast.walk(loop):
            if isinstance(n, ast.Call):
                eff = ctx.project.effects_at(ctx, n)
                if eff is not None and eff.calls_backward:
                    return True
        return False

    def _helper_move(self, ctx: Context, call: ast.Call):
        """(caller's model name, helper def, the move call) when the helper `call` runs moves a model argument
        to a device in its own body (not a nested helper, not moved back to the CPU there)."""
        from ..project import bind_arguments

        t = ctx.project.resolve_call(ctx, call)
        if t is None or ctx.is_inside(call, t.fn):
            return None
        binding = bind_arguments(t, call)
        if not binding:
            return None
        params = {a.arg for a in (*t.fn.args.posonlyargs, *t.fn.args.args, *t.fn.args.kwonlyargs)}
        for move, recv in self._own_moves(t.ctx, t.fn):
            head, _, rest = recv.partition(".")
            if head in {"self", "cls"}:
                if binding.get(head) != "self" or not rest:
                    continue  # a method on the caller's own object: `self.model.to(...)` in `self.train_step()`
            elif head not in params or head not in binding:
                continue
            caller_name = binding[head] + ("." + rest if rest else "")
            try:
                expr = ast.parse(caller_name, mode="eval").body
            except SyntaxError:
                continue
            if not is_model_expr(ctx, expr):
                continue
            if self._offloaded_in(t.ctx, recv, t.fn) or any(
                isinstance(b, ast.If) and t.ctx.is_inside(move, b) for b in ast.walk(t.fn)
            ):
                continue  # moved back to the CPU in the helper, or only under a condition
            return caller_name, t.fn, move
        return None

    @staticmethod
    def _in_per_epoch_helper(ctx: Context, call: ast.Call, name: str) -> bool:
        """`def train_epoch(model, ...): model.to(device); for batch ...: backward()` called inside a loop."""
        fn = ctx.enclosing_function(call)
        if fn is None or name not in {a.arg for a in fn.args.args + fn.args.kwonlyargs}:
            return False
        if not any(ctx.is_inside(b, fn) for b in backward_calls(ctx)):
            return False
        is_method = isinstance(ctx.parent(fn), ast.ClassDef)
        sites = [
            c
            for c in call_sites(ctx, fn)
            if not ctx.is_inside(c, fn)
            and (
                (isinstance(c.func, ast.Attribute) and dotted(c.func.value) == "self")
                if is_method
                else isinstance(c.func, ast.Name)
            )
        ]
        return bool(sites) and all(ctx.loops_around(c) for c in sites)

    @staticmethod
    def _moves_to_device(call: ast.Call) -> bool:
        target = call.args[0] if call.args else kwarg_value(call, "device")
        if target is None or _is_cpu_target(target):
            return False
        last = (dotted(target) or "").rsplit(".", 1)[-1]
        return last not in DTYPE_NAMES

    @staticmethod
    def _rebuilt_in(ctx: Context, name: str, loop: ast.AST) -> bool:
        """A new model per fold/trial: the name is (re)bound inside the loop."""
        for node in ast.walk(loop):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.For)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = getattr(node, "value", None)
                if (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Attribute)
                    and value.func.attr in {"to", "cuda"}
                    and dotted(value.func.value) == name
                ):
                    continue  # `model = model.to(device)` moves it, it does not build a new one
                for t in targets:
                    if isinstance(t, ast.Attribute) and dotted(t) == name:
                        return True
                    if name in target_names(t):
                        return True
        return False

    @staticmethod
    def _offloaded_in(ctx: Context, name: str, loop: ast.AST) -> bool:
        """Deliberate CPU<->GPU offloading: the same loop also moves the model back to the CPU."""
        for call in ctx.calls("cpu", "to"):
            if not isinstance(call.func, ast.Attribute) or dotted(_strip_mode_calls(call.func.value)) != name:
                continue  # (`model.eval().cpu()` offloads `model` too)
            if not ctx.is_inside(call, loop):
                continue
            if callee_name(call) == "cpu" or _is_cpu_target(call.args[0] if call.args else kwarg_value(call, "device")):
                return True
        return False


MODE_CHAIN = {"eval", "train", "float", "half", "double", "requires_grad_"}


def _strip_mode_calls(node: ast.AST) -> ast.AST:
    """`model.eval()` / `model.train().float()` -> `model` (they return the module itself)."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MODE_CHAIN:
        node = node.func.value
    return node


def _in_checkpoint_branch(ctx: Context, call: ast.Call, loop: ast.AST) -> bool:
    """The move is in an `if` inside the loop whose body saves a checkpoint (`torch.save`, `save_checkpoint`...)."""
    node = ctx.parent(call)
    while node is not None and node is not loop:
        if isinstance(node, ast.If) and ctx.is_inside(call, node) and any(ctx.is_inside(call, b) for b in node.body):
            for n in ast.walk(node):
                if isinstance(n, ast.Call) and "save" in (callee_name(n) or "").lower():
                    return True
        node = ctx.parent(node)
    return False
