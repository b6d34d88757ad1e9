"""Scopes, bindings and aliases: what a name is bound to where, in which branch, and which local function a call invokes.

`walk_scope`/`walk_no_defs` walk one scope without entering nested defs; `name_bindings`/`latest_binding`/
`resolve_value`/`binding_before` answer 'what does this name hold here'; `branch_of`/`mutually_exclusive`
reason about if/else arms; `local_function`/`call_sites` are the call graph (project-wide when the file is
reviewed as part of a project, see `skill.review.project`).
"""

from __future__ import annotations

import ast

from .analysis import Context, callee_name, dotted, receiver, target_names

def loop_iter_name(loop: ast.AST) -> str:
    """Source-ish text of what a for loop iterates over (`val_loader`, `enumerate(test_dl)`)."""
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        return " ".join(filter(None, (dotted(n) for n in ast.walk(loop.iter) if isinstance(n, (ast.Name, ast.Attribute)))))
    return ""


def call_receiver_name(call: ast.Call) -> str | None:
    """`model.eval()` -> 'model'; `self.model.eval()` -> 'self.model'."""
    recv = receiver(call)
    return dotted(recv) if recv is not None else None


# ---------------------------------------------------------------------- helpers for autofixes
def module_alias(ctx: Context, module: str) -> str | None:
    """The local name a module-level `import <module> [as alias]` binds to `module`, if never rebound.

    Fixes that write `torch.xxx` use it so the new text resolves exactly as the code imported torch.
    """
    for stmt in ctx.tree.body:
        if not isinstance(stmt, ast.Import):
            continue
        for alias in stmt.names:
            if alias.asname and alias.name == module:
                bound = alias.asname
            elif not alias.asname and "." not in module and (alias.name == module or alias.name.startswith(module + ".")):
                bound = module
            else:
                continue
            if bound not in ctx.assigned_names:
                return bound
    return None


# ---------------------------------------------------------------- paths, scripts, dataflow (REP/AMP/OPT/LOSS/PERF)
def branch_of(ctx: Context, node: ast.AST) -> list[tuple[ast.AST, str]]:
    """The conditional branches `node` sits in, innermost first: (if/try/match node, branch label)."""
    out: list[tuple[ast.AST, str]] = []
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (ast.If, ast.IfExp)):
            if child is not anc.test:
                body = anc.body if isinstance(anc.body, list) else [anc.body]
                out.append((anc, "body" if child in body else "orelse"))
        elif isinstance(anc, ast.Try) and child not in anc.body and child not in anc.finalbody:
            out.append((anc, f"handler{id(child)}" if child in anc.handlers else "orelse"))
        elif isinstance(anc, ast.match_case):
            out.append((ctx.parent(anc), f"case{id(anc)}"))
        child = anc
    return out


def mutually_exclusive(ctx: Context, a: ast.AST, b: ast.AST) -> bool:
    """Do `a` and `b` sit on different branches of one if/else (or try handlers, match cases), or
    under two ifs whose tests contradict (`if args.det:` ... `if not args.det:`, `x is None` / `x is not None`,
    `mode == "a"` / `mode == "b"`)?"""
    branches_a, branches_b = branch_of(ctx, a), branch_of(ctx, b)
    labels_b = {id(n): label for n, label in branches_b}
    for n, label in branches_a:
        other = labels_b.get(id(n))
        if other is not None and other != label:
            return True
    facts_b = [_branch_fact(n, label) for n, label in branches_b if isinstance(n, ast.If)]
    for n, label in branches_a:
        if isinstance(n, ast.If):
            fact = _branch_fact(n, label)
            if any(_contradict(fact, f) for f in facts_b):
                return True
    return False


def _branch_fact(node: ast.If, label: str) -> tuple[str, bool, ast.expr]:
    """(normalised test, holds?, test) for being in `label` of `if test:`; `not x` -> (x, not holds)."""
    test, holds = node.test, label == "body"
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, holds = test.operand, not holds
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.IsNot, ast.NotEq)):
        flipped = ast.Compare(left=test.left, ops=[ast.Is() if isinstance(test.ops[0], ast.IsNot) else ast.Eq()], comparators=test.comparators)
        test, holds = flipped, not holds
    return ast.dump(test), holds, test


def _contradict(f1: tuple[str, bool, ast.expr], f2: tuple[str, bool, ast.expr]) -> bool:
    if f1[0] == f2[0]:
        return f1[1] != f2[1]
    t1, t2 = f1[2], f2[2]
    # `x == "a"` and `x == "b"` both holding
    if f1[1] and f2[1] and isinstance(t1, ast.Compare) and isinstance(t2, ast.Compare):
        if len(t1.ops) == len(t2.ops) == 1 and isinstance(t1.ops[0], ast.Eq) and isinstance(t2.ops[0], ast.Eq):
            c1, c2 = t1.comparators[0], t2.comparators[0]
            return (
                ast.dump(t1.left) == ast.dump(t2.left)
                and isinstance(c1, ast.Constant) and isinstance(c2, ast.Constant) and c1.value != c2.value
            )
    return False


def is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":`"""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    return any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts) and any(
        isinstance(p, ast.Constant) and p.value == "__main__" for p in parts
    )


def innermost_loop(ctx: Context, node: ast.AST) -> ast.AST | None:
    loops = ctx.loops_around(node)
    return loops[0] if loops else None


def before(a: ast.AST, b: ast.AST) -> bool:
    """Does `a` start before `b` in the source?"""
    return (a.lineno, a.col_offset) < (b.lineno, b.col_offset)  # type: ignore[attr-defined]


def last_assignment(ctx: Context, name: str, use: ast.AST, scope: ast.AST | None = None) -> ast.expr | None:
    """The value last assigned to the plain name `name` before `use`, in `use`'s function (or module).

    Only simple `name = value` statements count; a tuple-unpacking or augmented binding returns None
    (value unknown), as does a name never assigned in that scope. Uses a per-file index of binding
    statements (built once), so each question costs the few bindings of that name.
    """
    scope = scope if scope is not None else ctx.enclosing_scope(use)
    best: ast.AST | None = None
    best_value: ast.expr | None = None
    for node, value in _binding_index(ctx).get(name, ()):
        if before(node, use) and (best is None or before(best, node)):
            if ctx.enclosing_scope(node) is scope:
                best, best_value = node, value
    return best_value


def _binding_index(ctx: Context) -> dict[str, list[tuple[ast.AST, ast.expr | None]]]:
    """name -> [(binding statement, the value if it is a plain `name = value`, else None)]."""
    cached = ctx.__dict__.get("_pp_binding_index")
    if cached is not None:
        return cached
    out: dict[str, list[tuple[ast.AST, ast.expr | None]]] = {}
    for node in ctx.nodes(ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith,
                          ast.NamedExpr):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.AsyncFor)):
            targets = [node.target]
        else:
            targets = [it.optional_vars for it in node.items if it.optional_vars is not None]  # type: ignore[union-attr]
        plain = isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr))
        for t in targets:
            if isinstance(t, ast.Name):
                out.setdefault(t.id, []).append((node, node.value if plain else None))  # type: ignore[union-attr]
            else:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.setdefault(n.id, []).append((node, None))
    ctx.__dict__["_pp_binding_index"] = out
    return out


def assignments_to(ctx: Context, name: str) -> list[ast.Assign]:
    """Every `name = ...` / `a.b = ...` statement of the file assigning the dotted `name` (indexed once)."""
    cached = ctx.__dict__.get("_pp_assignments_to")
    if cached is None:
        cached = {}
        for node in ctx.nodes(ast.Assign):
            for t in node.targets:  # type: ignore[union-attr]
                d = dotted(t)
                if d:
                    bucket = cached.setdefault(d, [])
                    if not bucket or bucket[-1] is not node:  # `a = a = x`: the statement once
                        bucket.append(node)
        ctx.__dict__["_pp_assignments_to"] = cached
    return cached.get(name, [])


def name_bindings(ctx: Context) -> dict[str, list[tuple[ast.stmt, ast.expr | None]]]:
    """name -> [(assignment statement, the value bound to that name or None if not known)], source order.

    `a, b = x, y` binds a->x, b->y; `a, b = f()` binds both to None (with the statement kept).
    """
    from .analysis import target_names

    cached = ctx.__dict__.get("_pp_bindings")
    if cached is not None:
        return cached
    out: dict[str, list[tuple[ast.stmt, ast.expr | None]]] = {}
    for stmt in ctx.nodes(ast.Assign, ast.AnnAssign):
        value = stmt.value  # type: ignore[attr-defined]
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # type: ignore[attr-defined]
        for t in targets:
            if isinstance(t, (ast.Name, ast.Attribute)):
                name = dotted(t)
                if name:
                    out.setdefault(name, []).append((stmt, value))  # type: ignore[arg-type]
            elif isinstance(t, (ast.Tuple, ast.List)):
                vals = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(t.elts) else None
                for i, el in enumerate(t.elts):
                    name = dotted(el) if isinstance(el, (ast.Name, ast.Attribute)) else None
                    if name:
                        out.setdefault(name, []).append((stmt, vals[i] if vals else None))  # type: ignore[arg-type]
                    else:
                        for n in target_names(el):
                            out.setdefault(n, []).append((stmt, None))  # type: ignore[arg-type]
    ctx.__dict__["_pp_bindings"] = out
    return out


def latest_binding(ctx: Context, name: str, node: ast.AST) -> tuple[ast.stmt, ast.expr | None] | None:
    """The latest binding of `name` before `node` in the same function (else at module level), if any."""
    scope = ctx.enclosing_function(node)
    pos = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
    best = None
    fallback = None
    for stmt, value in name_bindings(ctx).get(name, ()):
        if (stmt.lineno, stmt.col_offset) >= pos:
            continue
        s_scope = ctx.enclosing_function(stmt)
        if s_scope is scope:
            best = (stmt, value)
        elif s_scope is None:
            fallback = (stmt, value)
    return best or fallback


def resolve_value(ctx: Context, expr: ast.expr | None, hops: int = 5) -> ast.expr | None:
    """Follow `name = value` bindings back to the expression that produced a name (a few hops)."""
    while hops and isinstance(expr, (ast.Name, ast.Attribute)):
        name = dotted(expr)
        b = latest_binding(ctx, name, expr) if name else None
        if b is None:
            return expr
        stmt, value = b
        if value is None:
            # `train_ds, val_ds = random_split(full, ...)`: the parts are views of the first argument
            v = getattr(stmt, "value", None)
            if isinstance(v, ast.Call) and callee_name(v) == "random_split" and v.args:
                value = v.args[0]
            else:
                return None
        expr = value
        hops -= 1
    return expr


def _cache(ctx: Context, key: str, make):
    store = ctx.__dict__.setdefault("_pp_sem_cache", {})
    if key not in store:
        store[key] = make()
    return store[key]


def walk_scope(scope: ast.AST):
    """Nodes of `scope` without descending into nested functions, lambdas and classes (iterative).

    The node list of a function, class, module or loop is computed once and kept on the node (rules
    walk the same scopes many times)."""
    cached = getattr(scope, "_pp_walk", None)
    if cached is not None:
        return iter(cached)
    out: list[ast.AST] = []
    stack = _children(scope)
    pop, push, append, skip = stack.pop, stack.extend, out.append, _NESTED_SCOPES
    while stack:
        node = pop()
        append(node)
        if not isinstance(node, skip):
            push(_children(node))
    if isinstance(scope, _CACHED_WALKS):  # statements and scopes: nesting is shallow, memory stays linear-ish
        scope._pp_walk = out  # type: ignore[attr-defined]
    return iter(out)


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_CACHED_WALKS = (ast.stmt, ast.Lambda, ast.Module)


# fields that never hold a node (names, flags, constants): not looked at; `ctx`/`op`/`ops` are kept (their
# singleton nodes are part of the walk)
_NON_NODE_FIELDS = frozenset({
    "id", "attr", "arg", "name", "module", "level", "kind", "conversion", "type_comment", "is_async", "simple", "tag",
})
_WALK_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: ast.AST) -> list[ast.AST]:
    """`list(ast.iter_child_nodes(node))`, without the generator overhead."""
    out = []
    AST = ast.AST
    fields = _WALK_FIELDS.get(type(node))
    if fields is None:
        fields = _WALK_FIELDS[type(node)] = tuple(f for f in node._fields if f not in _NON_NODE_FIELDS)
    for name in fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend(c for c in value if isinstance(c, AST))
        elif isinstance(value, AST):
            out.append(value)
    return out


def walk_no_defs(node: ast.AST):
    """`node` and its descendants, skipping nested function/class bodies."""
    yield node
    yield from walk_scope(node)


def _assign_index(ctx: Context, scope: ast.AST) -> dict[str, list[tuple[tuple[int, int], ast.AST, ast.expr | None]]]:
    """name -> [(position, binding statement, value expr or None when unknown)] in source order."""

    def make():
        out: dict[str, list] = {}
        for node in walk_scope(scope):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        out.setdefault(t.id, []).append(((node.lineno, node.col_offset), node, node.value))
                    elif isinstance(t, (ast.Tuple, ast.List)):
                        whole = node.value if isinstance(node.value, ast.Call) else None
                        for n in target_names(t):
                            out.setdefault(n, []).append(((node.lineno, node.col_offset), node, ("unpack", whole)))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                out.setdefault(node.target.id, []).append(((node.lineno, node.col_offset), node, node.value))
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                out.setdefault(node.target.id, []).append(((node.lineno, node.col_offset), node, ("aug", node.value)))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                for n in target_names(node.target):
                    pos = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
                    out.setdefault(n, []).append((pos, node, None))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        for n in target_names(item.optional_vars):
                            out.setdefault(n, []).append(((node.lineno, node.col_offset), node, None))
        for v in out.values():
            v.sort(key=lambda e: e[0])
        return out

    return _cache(ctx, f"assigns:{id(scope)}", make)


def binding_before(ctx: Context, scope: ast.AST, name: str, at: ast.AST):
    """The last binding of `name` in `scope` positioned before `at` (source order approximation)."""
    pos = (getattr(at, "lineno", 0), getattr(at, "col_offset", 0))
    last = None
    for entry in _assign_index(ctx, scope).get(name, ()):
        stmt = entry[1]
        if stmt is at:
            continue
        if entry[0] >= pos:
            break
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and ctx.is_inside(at, stmt):
            continue  # `total = total + loss`: the right-hand side reads the previous binding
        last = entry
    return last


def loop_iter_text(loop: ast.AST) -> str:
    """Names, attributes and string keys a `for` loop iterates over (`val_loader`, `loaders['test']`)."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return ""
    parts = []
    for n in ast.walk(loop.iter):
        if isinstance(n, ast.Name):
            parts.append(n.id)
        elif isinstance(n, ast.Attribute):
            parts.append(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            parts.append(n.value)
    return " ".join(parts)


def local_function(ctx: Context, call: ast.Call, need: tuple[str, ...] | None = None) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function `call` invokes, when the reviewed code defines it: `helper(...)`, `self.helper(...)`
    in this file (by name), else what the project resolves (nested defs, `obj.method()` on an instance of
    a class of the tree, `functools.partial`, functions imported from other files of the tree).

    The result may belong to another file: `ctx.project.ctx_of(fn)` is its context. `need`: see
    `Project.resolve_call` (skip imported functions whose file cannot matter)."""
    home = _home(ctx, call)
    func = call.func
    name = None
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"}:
        name = func.attr
    if name is not None:
        fns = home.functions_by_name.get(name)
        if fns:
            return fns[0]
    t = home.project.resolve_call(home, call, need=need)
    return t.fn if t is not None else None


def call_sites(ctx: Context, fn: ast.AST) -> list[ast.Call]:
    """Calls of the function/method `fn` (`fn(...)`, `self.fn(...)`, `obj.fn(...)`) in its file, plus the
    calls resolved to it from the other files of the project. `ctx.project.ctx_of(call)` gives a call's file
    (use its `.tree`, not `ctx.tree`, for module-level callers)."""
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    home = _home(ctx, fn)
    out = [c for c in home.calls(fn.name) if not home.is_inside(c, fn) or home.enclosing_function(c) is not fn]
    if "partial" in home.calls_by_name:
        out.extend(_partial_calls(home, fn))
    proj = home._project
    if proj is not None and proj.paths:
        out.extend(c for other, c in proj.callers(home, fn) if other is not home)
    return out


def _partial_calls(ctx: Context, fn: ast.AST) -> list[ast.Call]:
    """Calls of a `functools.partial(fn, ...)` bound to a name (`step = partial(update, model, opt)`; `step(x)`)."""
    out: list[ast.Call] = []
    for p in ctx.calls("partial"):
        if not p.args or (dotted(p.args[0]) or "").rsplit(".", 1)[-1] != fn.name:  # type: ignore[attr-defined]
            continue
        stmt = ctx.parent(p)
        if not isinstance(stmt, ast.Assign) or stmt.value is not p:
            continue
        for target in stmt.targets:
            if not isinstance(target, ast.Name):
                continue
            for c in ctx.calls(target.id):
                if isinstance(c.func, ast.Name):
                    t = ctx.project.resolve_call(ctx, c)
                    if t is not None and t.fn is fn:
                        out.append(c)
    return out


def _home(ctx: Context, node: ast.AST) -> Context:
    """The context of the file `node` belongs to (`ctx` itself unless the node came from another file)."""
    proj = ctx._project
    if proj is None or not proj.paths:
        return ctx
    return proj.home(ctx, node)


def calls_of(ctx: Context, qualnames: set[str] | frozenset[str]) -> list[ast.Call]:
    """Calls that resolve to one of `qualnames`, including through `from m import f as g` aliases.

    Looks only at calls whose callee name is the qualified names' last component or a local alias of
    one of them, so it costs a few dictionary lookups on files that never use these functions.
    """
    names = {q.rsplit(".", 1)[-1] for q in qualnames}
    names.update(local for local, q in ctx.imports.items() if q in qualnames)
    return [c for c in ctx.calls(*names) if ctx.call_qualname(c) in qualnames]
