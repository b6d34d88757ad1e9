"""PT-DEV004 tensor-created-without-device."""

from __future__ import annotations

import ast
import re

from ..analysis import Context, callee_name, dotted, keyword, target_names
from ..models import Severity
from ..rule import Rule

FACTORIES = {
    "zeros", "ones", "full", "empty", "arange", "rand", "randn", "randint", "randperm", "eye", "linspace",
    "logspace", "tensor", "as_tensor",
}
MOVES = {"to", "cuda", "type_as", "to_device", "register_buffer"}
# Results of these are shapes/Python numbers or host data, not device tensors.
NOT_TENSOR_ATTRS = {"shape", "device", "dtype", "ndim", "is_cuda", "requires_grad"}
NOT_TENSOR_METHODS = {"size", "dim", "numel", "item", "tolist", "cpu", "numpy", "get_device", "stride", "data_ptr", "nelement", "element_size"}
SKIP_FUNCS = re.compile(r"^(__init__|reset_parameters|_?init_?weights|_reset_parameters|extra_repr|__repr__|build.*|init.*|_init.*)$")
# calls whose positional arguments are sizes (Python ints), not tensors
SIZE_CALLS = FACTORIES - {"tensor", "as_tensor"} | {"range", "view", "reshape", "repeat", "expand", "new_zeros",
                                                    "new_ones", "new_empty", "new_full", "unflatten"}
STEP_FUNC_RE = re.compile(r"(^forward$|loss|(^|_)step$)", re.IGNORECASE)


class TensorCreatedWithoutDevice(Rule):
    code = "PT-DEV004"
    name = "tensor-created-without-device"
    severity = Severity.high
    summary = "Tensor created without `device=` inside forward()/a loss or step function and combined with device tensors"
    why = (
        "Factories such as torch.zeros/ones/arange/randn allocate on the CPU unless told otherwise. Inside "
        "forward() the other operands live wherever the model was moved, so on a GPU the first op that mixes "
        "them raises 'Expected all tensors to be on the same device' (CPU tests never see it)."
    )
    fix_text = (
        "Create it on the input's device (`device=x.device`, `x.new_zeros(...)`, `torch.zeros_like(x)`), or "
        "precompute it in __init__ with `self.register_buffer(...)` so that `.to(device)` moves it."
    )
    bad = (
        "class Attn(nn.Module):\n    def forward(self, x):\n        T = x.size(1)\n"
        "        mask = torch.tril(torch.ones(T, T))  # in forward\n"
        "        return x.masked_fill(mask == 0, 0.0)\n"
    )
    good = (
        "class Attn(nn.Module):\n    def __init__(self, T):\n        super().__init__()\n"
        '        self.register_buffer("mask", torch.tril(torch.ones(T, T)))\n\n'
        "    def forward(self, x):\n        T = x.size(1)\n"
        "        return x.masked_fill(self.mask[:T, :T] == 0, 0.0)\n"
    )

    def check(self, ctx: Context):
        factories = [c for c in ctx.calls(*FACTORIES) if self._is_cpu_factory(ctx, c)]
        if not factories:
            return
        device_sets: dict[int, set[str]] = {}
        reported: set[int] = set()
        for call in factories:
            fn = self._step_function(ctx, call)
            if fn is None:
                continue
            cls = ctx.parent(fn)
            self._methods = (  # the class's own methods: `self.meshgrid(h, w)` is not a submodule
                {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
                if isinstance(cls, ast.ClassDef) else set()
            )
            if id(fn) not in device_sets:
                device_sets[id(fn)] = self._device_names(ctx, fn)
            dev = device_sets[id(fn)]
            if dev is None:
                continue
            stmt = ctx.statement_of(call)
            if stmt is None or id(stmt) in reported:
                continue
            if self._meets_device(ctx, call, fn, dev, depth=0):
                reported.add(id(stmt))
                yield self.report(ctx, call, f"`torch.{callee_name(call)}(...)` is created on the CPU but meets device tensors")

    # ------------------------------------------------------------------ scope
    @staticmethod
    def _is_cpu_factory(ctx: Context, call: ast.Call) -> bool:
        q = ctx.call_qualname(call) or ""
        if not q.startswith("torch.") or q.count(".") != 1:
            return False
        if keyword(call, "device") is not None or keyword(call, "out") is not None or any(k.arg is None for k in call.keywords):
            return False
        name = callee_name(call)
        if name in {"tensor", "as_tensor"}:
            # 0-dim CPU tensors mix with CUDA tensors fine; only literal lists make real CPU tensors
            return bool(call.args) and isinstance(call.args[0], (ast.List, ast.Tuple, ast.ListComp))
        if call.args and isinstance(call.args[0], ast.Tuple) and not call.args[0].elts:
            return False  # torch.zeros(()) is 0-dim
        return True

    @staticmethod
    def _step_function(ctx: Context, call: ast.Call):
        fn = None
        for anc in ctx.ancestors(call):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fn = anc
                break
            if isinstance(anc, (ast.ClassDef, ast.Lambda)):
                return None
        if fn is None or SKIP_FUNCS.match(fn.name):
            return None
        cls = ctx.parent(fn)
        if isinstance(cls, ast.ClassDef) and ctx.is_module_class(cls):
            return fn
        if STEP_FUNC_RE.search(fn.name):
            return fn
        return None

    # ------------------------------------------------------------------ dataflow
    def _device_names(self, ctx: Context, fn) -> set[str] | None:
        """Names holding device tensors in `fn`: tensor parameters and what is computed from them.

        None for CPU-only code (the function sends things to the host itself).
        """
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and callee_name(node) == "numpy" and isinstance(node.func, ast.Attribute):
                return None
            if isinstance(node, ast.Constant) and node.value == "cpu":
                return None
        names: set[str] = set()
        args = fn.args
        defaults = dict(zip([a.arg for a in (args.posonlyargs + args.args)][::-1], args.defaults[::-1]))
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        for a in args.posonlyargs + args.args + args.kwonlyargs:
            if a.arg in {"self", "cls"}:
                continue
            ann = dotted(a.annotation) if a.annotation is not None else None
            if ann in {"int", "float", "bool", "str"}:
                continue
            d = defaults.get(a.arg)
            if isinstance(d, ast.Constant) and d.value is not None:
                continue
            names.add(a.arg)
        names -= self._size_params(fn)
        stmts = [n for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))]
        stmts.sort(key=lambda n: (n.lineno, n.col_offset))
        hosted: set[str] = set()
        for stmt in stmts:
            t = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value = stmt.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr in {"cpu", "tolist", "item"}
            ):
                for target in t:
                    hosted.update(target_names(target))  # `x = x.cpu()`: a host tensor from here on
            elif value is not None and self._is_device_expr(value, names):
                for target in t:
                    names.update(target_names(target))
        return names - hosted

    @staticmethod
    def _size_params(fn) -> set[str]:
        """Names passed as sizes (`torch.arange(0, h)`, `.view(h, 1)`, `range(w)`, `h - 1` there): Python ints."""
        out: set[str] = set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            args: list[ast.AST] = []
            if callee_name(node) in SIZE_CALLS:
                args = list(node.args)
            elif callee_name(node) in {"tensor", "as_tensor"} and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
                args = list(node.args[0].elts)  # `torch.tensor([h - 1, w - 1])`: Python numbers
            if args:
                for a in args:
                    while isinstance(a, ast.BinOp) and isinstance(a.right, ast.Constant):
                        a = a.left
                    if isinstance(a, ast.Name):
                        out.add(a.id)
        return out

    def _is_device_expr(self, expr: ast.AST, names: set[str]) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in names
        if isinstance(expr, ast.Attribute):
            return False  # x.shape / self.hidden: not known to be a device tensor
        if isinstance(expr, ast.Subscript):
            return self._is_device_expr(expr.value, names)
        if isinstance(expr, ast.BinOp):
            return self._is_device_expr(expr.left, names) or self._is_device_expr(expr.right, names)
        if isinstance(expr, ast.UnaryOp):
            return self._is_device_expr(expr.operand, names)
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Attribute):
                if func.attr in NOT_TENSOR_METHODS:
                    return False
                if dotted(func.value) == "self" and not self._is_method(func):
                    return True  # a submodule's output lives on the module's device
                if self._is_device_expr(func.value, names):
                    return True
            if callee_name(expr) in {"len", "int", "float", "range", "max", "min", "sum", "round"} and isinstance(func, ast.Name):
                return False
            return any(self._is_device_expr(a, names) for a in expr.args) or any(
                isinstance(a, (ast.List, ast.Tuple)) and any(self._is_device_expr(e, names) for e in a.elts)
                for a in expr.args
            )
        return False

    def _is_method(self, func: ast.Attribute) -> bool:
        """`self.meshgrid(...)`: a method of the class being reviewed (its result depends on its arguments)."""
        return func.attr in getattr(self, "_methods", set())

    def _meets_device(self, ctx: Context, node: ast.AST, fn, dev: set[str], depth: int) -> bool:
        """Follow a CPU tensor upwards through its expression (and through one or two names) until it
        meets a device tensor (True) or is moved, used as an index, returned or lost (False)."""
        child = node
        parent = ctx.parent(node)
        while parent is not None:
            if isinstance(parent, ast.Attribute):  # method on the CPU tensor
                call = ctx.parent(parent)
                if not isinstance(call, ast.Call) or call.func is not parent:
                    return False
                if parent.attr in MOVES:
                    return False
                if parent.attr in NOT_TENSOR_METHODS:
                    return False
                if any(self._is_device_expr(a, dev) for a in call.args):
                    return True
                child, parent = call, ctx.parent(call)
                continue
            if isinstance(parent, ast.keyword):
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, ast.Call):
                func = parent.func
                if isinstance(func, ast.Attribute) and func.attr in MOVES:
                    return False
                others = [a for a in parent.args if a is not child] + [k.value for k in parent.keywords if k is not child]
                fname = dotted(func) or ""
                if fname == "self" or (fname.startswith("self.") and fname.count(".") == 1
                                       and not self._is_method(func)):  # type: ignore[arg-type]
                    return True  # the module itself or a submodule (weights on the device) applied to a CPU tensor
                if isinstance(func, ast.Attribute) and self._is_device_expr(func.value, dev):
                    return True  # x.masked_fill(cpu_mask, ...), x.scatter_(1, cpu_idx, ...)
                q = ctx.qualname(func) or ""
                if not q.startswith("torch."):
                    return False  # an unknown helper: cannot tell
                if any(self._is_device_expr(o, dev) for o in others):
                    return True
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, (ast.List, ast.Tuple)):
                if any(self._is_device_expr(e, dev) for e in parent.elts if e is not child):
                    outer = ctx.parent(parent)
                    return isinstance(outer, ast.Call) and (ctx.qualname(outer.func) or "").startswith("torch.")
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, ast.BinOp):
                other = parent.right if parent.left is child else parent.left
                if self._is_device_expr(other, dev):
                    return True
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, ast.Compare):
                others = [parent.left, *parent.comparators]
                if any(self._is_device_expr(o, dev) for o in others if o is not child):
                    return True
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, ast.UnaryOp):
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, ast.Subscript):
                if parent.value is not child:
                    return False  # used as an index: CPU indices into device tensors are fine
                child, parent = parent, ctx.parent(parent)
                continue
            if isinstance(parent, ast.AugAssign):
                return child is parent.value and self._is_device_expr(parent.target, dev)
            if isinstance(parent, (ast.Assign, ast.AnnAssign)) and child is parent.value and depth < 2:
                targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
                if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                    return False
                return self._name_meets_device(ctx, targets[0].id, parent, fn, dev, depth + 1)
            return False
        return False

    def _name_meets_device(self, ctx: Context, name: str, stmt: ast.AST, fn, dev: set[str], depth: int) -> bool:
        uses = []
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and node.id == name and (node.lineno, node.col_offset) > (stmt.lineno, stmt.col_offset):
                if isinstance(node.ctx, ast.Store):
                    continue
                parent = ctx.parent(node)
                if isinstance(parent, ast.Attribute) and parent.attr in MOVES:
                    return False  # moved to the device before use (conservatively: anywhere later)
                uses.append(node)
        return any(self._meets_device(ctx, u, fn, dev, depth) for u in uses)
