"""The project index: the files of one reviewed tree, the call graph across them, function summaries.

A directory (or a list of paths) is reviewed as ONE project: `files.review_paths` builds a `Project` from
the discovered files and every per-file `Context` gets it as `ctx.project`. A single file, a notebook or
stdin gets a one-file project (`ctx.project` is created on first use), so rules never need to care.

What rules ask (all answers are computed lazily and cached; nothing is parsed until a question needs it):

    proj = ctx.project
    proj.resolve_call(ctx, call)   -> Target | None   # the function a call runs: local, nested, method via
                                                        # `self.m()`, `obj.m()` on a local class instance,
                                                        # `functools.partial`, imported from the tree
                                                        # (`from .engine import evaluate`, `import utils`)
    proj.callers(ctx, fn)          -> [(Context, ast.Call)]   # call sites of `fn` in the whole tree
    proj.summary(fn)               -> FunctionSummary         # see skill.review.summaries
    proj.effects_at(ctx, call)     -> FunctionSummary | None  # the callee's summary with its parameter
                                                        # names replaced by the caller's arguments
                                                        # (`evaluate(net)` where evaluate does
                                                        # `model.eval()` -> sets_mode [("net", False)])
    proj.ctx_of(node)              -> Context | None    # the file a node (from any file) belongs to

Imports are resolved only inside the tree (never by importing anything); a name that cannot be resolved
is unknown, and rules treat unknown as "could be anything" (no finding when unsure).
"""

from __future__ import annotations

import ast
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .analysis import Context, dotted

FUNC_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
MAX_PARSED = 160  # dependency files kept parsed (LRU); reviewed files are registered while reviewed
MAX_CALLER_FILES = 16  # other files scanned for the callers of one function


@dataclass(slots=True)
class Target:
    """What a call runs: `fn` in file `ctx`; `self_arg` is the receiver expression bound to `self` (or
    None); `bound` are the positional/keyword arguments a `functools.partial` pre-filled."""

    ctx: Context
    fn: ast.FunctionDef | ast.AsyncFunctionDef
    self_arg: ast.expr | None = None
    bound_args: tuple = ()
    bound_kwargs: tuple = ()


class Project:
    """Files of one reviewed tree, parsed on demand, with the call graph and summaries over them."""

    def __init__(self, paths: list[str] | None = None) -> None:
        given = [p for p in (paths or []) if p != "-" and p.endswith((".py", ".pyi"))]
        self.paths = [os.path.abspath(p) for p in given]
        self._names = dict(zip(self.paths, given))  # absolute path -> the name the file is reviewed under
        self._by_path: set[str] = set(self.paths)
        self._parsed: OrderedDict[str, Context | None] = OrderedDict()
        self._registered: dict[str, Context] = {}
        self._roots: dict[int, Context] = {}
        self._texts: dict[str, str | None] = {}
        self._summaries: dict[int, object] = {}
        self._in_progress: set[int] = set()
        self._callers: dict[int, list] = {}
        self._module_cache: dict[tuple[str, str], str | None] = {}
        self._importers_memo: dict[tuple[str, str], list[str]] = {}
        self._import_lines_memo: dict[str, str] = {}
        # files parsed only to answer questions about them: at most a quarter of the tree (+16), so a
        # project review costs at most ~0.5x a parse more than reviewing the files one by one
        self.parse_budget = 16 + len(self.paths) // 4
        self._dependency_parses = 0
        self._suffixes: dict[str, list[str]] | None = None
        self.target_torch = "2.6"

    # ------------------------------------------------------------------ files
    @classmethod
    def single(cls, ctx: Context) -> Project:
        proj = cls([])
        proj.register(ctx)
        return proj

    def register(self, ctx: Context) -> None:
        """A file being reviewed: its context answers for its path and its nodes."""
        ctx._project = self  # type: ignore[attr-defined]
        self._roots[id(ctx.tree)] = ctx
        if ctx.filename not in ("-", "<string>"):
            self._registered[os.path.abspath(ctx.filename)] = ctx

    def unregister(self, ctx: Context) -> None:
        path = os.path.abspath(ctx.filename)
        if self._registered.get(path) is ctx:
            del self._registered[path]
        if path in self._by_path and ctx.filename == self._names.get(path, path):
            dep = self._parsed.get(path)
            if dep is None or dep is ctx:
                # a reviewed file stays known (LRU) for the files reviewed after it: no second parse and index
                self._parsed[path] = ctx
                self._parsed.move_to_end(path)
                self._roots[id(ctx.tree)] = ctx
                self._evict()
                return
        self._roots.pop(id(ctx.tree), None)
        dep = self._parsed.get(path) if ctx.filename not in ("-", "<string>") else None
        if dep is not None and dep.tree is ctx.tree:  # the tree was shared with its dependency context
            self._roots[id(dep.tree)] = dep
        self._forget(ctx)

    def parsed_context(self, filename: str, text: str) -> Context | None:
        """The context of `filename` when it was already parsed (as a dependency, or reviewed) from the same
        text: reviewing it reuses the tree and the index."""
        if filename in ("-", "<string>"):
            return None
        dep = self._parsed.get(os.path.abspath(filename))
        return dep if dep is not None and dep.source == text and dep.filename == filename else None

    def _evict(self) -> None:
        while len(self._parsed) > MAX_PARSED:
            old_path, old = self._parsed.popitem(last=False)
            if old is not None:
                self._roots.pop(id(old.tree), None)
                self._forget(old)

    def parsed_tree(self, filename: str, text: str) -> ast.Module | None:
        """The tree of `filename` when it was already parsed as a dependency from the same text, else None."""
        if filename in ("-", "<string>"):
            return None
        dep = self._parsed.get(os.path.abspath(filename))
        return dep.tree if dep is not None and dep.source == text else None

    def _forget(self, ctx: Context) -> None:
        """Drop what was cached about `ctx`'s functions (its tree may be freed and node ids reused);
        summaries of the other files stay (each summary holds its function, so its id stays unique)."""
        self._summaries = {k: v for k, v in self._summaries.items() if getattr(v, "_ctx", None) is not ctx}
        self._callers.clear()

    def context(self, path: str) -> Context | None:
        """The parsed file at `path` (a file of the project), or None if absent or unparsable."""
        path = os.path.abspath(path)
        if path in self._registered:
            return self._registered[path]
        if path in self._parsed:
            self._parsed.move_to_end(path)
            return self._parsed[path]
        if path not in self._by_path:
            return None
        if self._dependency_parses >= self.parse_budget:
            return None  # bounded cost: past the budget, other files are unknown (no finding when unsure)
        self._dependency_parses += 1
        ctx = None
        text = self.text(path)
        if text is not None:
            try:
                name = self._names.get(path, path)
                tree = ast.parse(text, filename=name)
                ctx = Context(text, tree, name)
                ctx._project = self  # type: ignore[attr-defined]
                self._roots[id(tree)] = ctx
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                ctx = None
        self._parsed[path] = ctx
        self._evict()
        return ctx

    def text(self, path: str) -> str | None:
        if path not in self._texts:
            try:
                data = Path(path).read_bytes()
                self._texts[path] = None if b"\x00" in data else data.decode("utf-8", errors="replace")
            except OSError:
                self._texts[path] = None
        return self._texts[path]

    def home(self, ctx: Context, node: ast.AST) -> Context:
        """The context of `node`'s file: `ctx` itself (O(1) for its calls and defs), else found by walking up."""
        if not self.paths:
            return ctx
        ids = ctx.__dict__.get("_pp_node_ids")
        if ids is None:
            ids = {id(n) for t in (ast.Call, ast.FunctionDef, ast.AsyncFunctionDef) for n in ctx.by_type.get(t, ())}
            ctx.__dict__["_pp_node_ids"] = ids
        if id(node) in ids:
            return ctx
        return self.ctx_of(node) or ctx

    def ctx_of(self, node: ast.AST) -> Context | None:
        root = node
        for anc in Context.ancestors(node):
            root = anc
        return self._roots.get(id(root))

    # ------------------------------------------------------------------ modules
    def module_file(self, ctx: Context, module: str) -> str | None:
        """The project file for `module` as imported from `ctx` ('.engine', 'pkg.utils', 'utils'):
        relative to the importing file's package, or for an absolute import, under the importing file's
        directory or one of its parents (script directories, package roots). Cached."""
        key = (os.path.dirname(os.path.abspath(ctx.filename)), module)
        if key in self._module_cache:
            return self._module_cache[key]
        found = self._module_file(key[0], module)
        self._module_cache[key] = found
        return found

    def _module_file(self, here: str, module: str) -> str | None:
        level = len(module) - len(module.lstrip("."))
        dotted_name = module.lstrip(".")
        parts = [p for p in dotted_name.split(".") if p]
        if not self.paths:
            return None
        if level:
            base = here
            for _ in range(level - 1):
                base = os.path.dirname(base)
            stem = os.path.join(base, *parts)
            for cand in (stem + ".py", os.path.join(stem, "__init__.py")):
                if cand in self._by_path:
                    return cand
            return None
        candidates = self._suffix_index().get(dotted_name)
        if not candidates:
            return None  # an import from outside the tree (torch, numpy, the installed package)
        rel = os.path.join(*parts)
        best = None
        for cand in candidates:
            stem = cand[: -len("/__init__.py")] if cand.endswith("/__init__.py") else cand[: -len(".py")]
            root = stem[: len(stem) - len(rel)].rstrip(os.sep)
            if here == root or here.startswith(root + os.sep):
                if best is None or len(root) > len(best[0]):
                    best = (root, cand)
        return best[1] if best else None

    def _suffix_index(self) -> dict[str, list[str]]:
        """Dotted module names (every suffix of the path: 'c', 'b.c', 'a.b.c') -> project files."""
        if self._suffixes is None:
            index: dict[str, list[str]] = {}
            for path in self.paths:
                stem = path[: -len(".pyi")] if path.endswith(".pyi") else path[: -len(".py")]
                parts = stem.split(os.sep)[1:]
                if parts and parts[-1] == "__init__":
                    parts = parts[:-1]
                for i in range(len(parts) - 1, max(len(parts) - 8, -1), -1):
                    index.setdefault(".".join(parts[i:]), []).append(path)
            self._suffixes = index
        return self._suffixes

    def resolve_name(self, ctx: Context, name: str, depth: int = 0):
        """A top-level function/class of the tree that an imported `name` refers to: (Context, node) or a
        module Context for `import utils` / `from . import engine`; None if not in the tree."""
        q = ctx.imports.get(name)
        if q is None or depth > 3:
            return None
        if q.startswith("."):
            dots = len(q) - len(q.lstrip("."))
            if dots >= 2 and "." not in q[dots:]:  # `from . import engine` is recorded as '..engine'
                q = q[: dots - 1] + q[dots:]
        if not self.paths:
            return None
        cache = ctx.__dict__.setdefault("_pp_resolved_names", {})
        if (name, depth) in cache:
            return cache[(name, depth)]
        found = self._resolve_name(ctx, name, q, depth)
        cache[(name, depth)] = found
        return found

    def _resolve_name(self, ctx: Context, name: str, q: str, depth: int):
        mod, _, attr = q.rpartition(".")
        if mod or q.startswith("."):
            path = self.module_file(ctx, mod if mod else q[: len(q) - len(q.lstrip("."))])
            if path is not None:
                other = self.context(path)
                if other is not None:
                    found = _top_level(other, attr)
                    if found is not None:
                        return other, found
                    if attr in other.imports and depth < 3:  # re-exported (`from .engine import evaluate` in __init__)
                        return self.resolve_name(other, attr, depth + 1)
        path = self.module_file(ctx, q)
        if path is not None:
            return self.context(path)
        return None

    # ------------------------------------------------------------------ call graph
    def resolve_call(self, ctx: Context, call: ast.Call, depth: int = 0, need: tuple[str, ...] | None = None) -> Target | None:
        """The function `call` runs, if the reviewed tree defines it (cheap exits first: this is asked
        for every call in the scopes rules look at).

        `need`: the caller only cares about functions whose file contains one of these substrings
        (`("backward", ".step(")`); a function imported from a file that does not is not parsed (None)."""
        func = call.func
        if need and self.paths:
            name = func.id if isinstance(func, ast.Name) else func.value.id \
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
            if name is not None and name in ctx.imports and name not in ctx.functions_by_name \
                    and self._file_lacks(ctx, name, need):
                return None
        if isinstance(func, ast.Name):
            name = func.id
            if name in ctx.functions_by_name:
                fn = _visible_def(ctx, name, call)
                if fn is not None:
                    return Target(ctx, fn)
            if "partial" in ctx.calls_by_name and depth <= 2:
                t = self._partial_target(ctx, name, call, depth)
                if t is not None:
                    return t
            if self.paths and name in ctx.imports:
                found = self.resolve_name(ctx, name)
                if isinstance(found, tuple) and isinstance(found[1], FUNC_TYPES):
                    return Target(found[0], found[1])
                return None
            fns = ctx.functions_by_name.get(name)
            if fns:  # a method or a def in another block with that name: the historic in-file guess
                return Target(ctx, fns[0])
            return None
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
            return None
        recv, attr = func.value, func.attr
        if attr not in ctx.functions_by_name and not self.paths:
            return None
        if recv.id in {"self", "cls"}:
            cls = ctx.enclosing_class(call)
            if cls is not None:
                found = self._method(ctx, cls, attr)
                if found is not None:
                    return Target(found[0], found[1], recv)
            fns = ctx.functions_by_name.get(attr)
            if fns:
                return Target(ctx, fns[0], recv)  # a mixin's method defined in this file
            return None
        if self.paths and recv.id in ctx.imports:
            found = self.resolve_name(ctx, recv.id)
            if isinstance(found, Context):  # `utils.evaluate(...)`
                fn = _top_level(found, attr)
                if isinstance(fn, FUNC_TYPES):
                    return Target(found, fn)
            return None
        if self._may_hold_instance(ctx, recv.id):
            cls_found = self._instance_class(ctx, recv.id, call)
            if cls_found is not None:
                found = self._method(cls_found[0], cls_found[1], attr)
                if found is not None:
                    return Target(found[0], found[1], recv)
        return None

    def _file_lacks(self, ctx: Context, name: str, need: tuple[str, ...]) -> bool:
        """Can we tell, from the text alone, that the imported `name` (a function, a class or a module of the tree)
        lives in a file containing none of `need`? Re-exports and unknown modules: False (parse and see)."""
        return self.import_text(ctx, name, need) == "lacks"

    def import_text(self, ctx: Context, name: str, need: tuple[str, ...]) -> str:
        """What the text of the file an imported `name` comes from says about `need`, without parsing:
        'outside' (not a file of the tree), 'lacks' (none of `need` in it), 'has', or 'unknown' (a re-export)."""
        memo = ctx.__dict__.setdefault("_pp_import_text", {})
        key = (name, need)
        got = memo.get(key)
        if got is not None:
            return got
        got = "outside"
        q = ctx.imports.get(name) or ""
        if q.startswith("."):
            dots = len(q) - len(q.lstrip("."))
            if dots >= 2 and "." not in q[dots:]:
                q = q[: dots - 1] + q[dots:]
        mod, _, attr = q.rpartition(".")
        path = self.module_file(ctx, q) if q else None  # `import utils` / `from . import engine`: the module itself
        if path is None and (mod or q.startswith(".")):
            path = self.module_file(ctx, mod if mod else q[: len(q) - len(q.lstrip("."))])
            text = self.text(path) if path is not None else None
            if text is not None:
                # the definition must be in that file (not re-exported from another one)
                if f"def {attr}(" in text or f"class {attr}" in text:
                    got = "has" if any(w in text for w in need) else "lacks"
                else:
                    got = "unknown"
        elif path is not None:
            text = self.text(path)
            if text is not None:
                got = "has" if any(w in text for w in need) else "lacks"
        memo[key] = got
        return got

    def may_import(self, ctx: Context, need: tuple[str, ...]) -> bool:
        """Could a function imported by `ctx` from the tree contain one of `need` (text check, no parsing)?"""
        if not self.paths:
            return False
        return any(self.import_text(ctx, name, need) in ("has", "unknown") for name in ctx.imports)

    def _partial_target(self, ctx: Context, name: str, call: ast.Call, depth: int) -> Target | None:
        from .scopes import latest_binding

        if depth > 2:
            return None
        b = latest_binding(ctx, name, call)
        value = b[1] if b else None
        if isinstance(value, ast.Call) and (dotted(value.func) or "").rsplit(".", 1)[-1] == "partial" and value.args:
            inner = value.args[0]
            fake = ast.Call(func=inner, args=[], keywords=[])
            ast.copy_location(fake, value)
            setattr(fake, "_pp_parent", value)
            t = self.resolve_call(ctx, fake, depth + 1)
            if t is not None:
                t.bound_args = tuple(value.args[1:])
                t.bound_kwargs = tuple(value.keywords)
                return t
        return None

    def _method(self, ctx: Context, cls: ast.ClassDef, name: str, depth: int = 0):
        for stmt in cls.body:
            if isinstance(stmt, FUNC_TYPES) and stmt.name == name:
                return ctx, stmt
        if depth > 4:
            return None
        for base in cls.bases:
            bname = dotted(base)
            if not bname or "." in bname:
                continue
            local = ctx.classes_by_name.get(bname)
            if local is not None and local is not cls:
                found = self._method(ctx, local, name, depth + 1)
            else:
                r = self.resolve_name(ctx, bname)
                found = self._method(r[0], r[1], name, depth + 1) if isinstance(r, tuple) and isinstance(r[1], ast.ClassDef) else None
            if found is not None:
                return found
        return None

    def _may_hold_instance(self, ctx: Context, name: str) -> bool:
        """Is `name` ever bound to `SomeClass(...)` with SomeClass defined in the file or imported (cached)?"""
        cache = ctx.__dict__.setdefault("_pp_may_hold_instance", {})
        got = cache.get(name)
        if got is None:
            got = any(
                isinstance(v, ast.Call) and isinstance(v.func, ast.Name)
                and (v.func.id in ctx.classes_by_name or (bool(self.paths) and v.func.id in ctx.imports))
                for _, v in _bindings(ctx).get(name, ())
            )
            cache[name] = got
        return got

    def _instance_class(self, ctx: Context, name: str, at: ast.AST):
        """(Context, ClassDef) when `name` holds an instance of a class of the tree (`t = Trainer(...)`)."""
        from .scopes import latest_binding

        b = latest_binding(ctx, name, at)
        value = b[1] if b else None
        if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Name):
            return None
        cname = value.func.id
        local = ctx.classes_by_name.get(cname)
        if local is not None:
            return ctx, local
        r = self.resolve_name(ctx, cname)
        if isinstance(r, tuple) and isinstance(r[1], ast.ClassDef):
            return r
        return None

    def _importers(self, stem: str, package: str) -> list[str]:
        """Files whose text may import the module `stem` (or its package's re-export): once per module."""
        memo = self._importers_memo
        key = (stem, package)
        got = memo.get(key)
        if got is None:
            names = [n for n in {stem, package} if n]
            got = memo[key] = [p for p in self.paths if (t := self._import_lines(p)) and any(n in t for n in names)]
        return got

    def _import_lines(self, path: str) -> str:
        """The lines of `path`'s text that `_imports_module` looks at (those starting, after indentation, with
        `from `/`import `), joined by newlines: computed once per file, so that asking which files may import
        a module is a substring test per file instead of a scan of every mention of the name."""
        memo = self._import_lines_memo
        got = memo.get(path)
        if got is None:
            text = self.text(path)
            got = memo[path] = _import_lines(text) if text else ""
        return got

    def callers(self, ctx: Context, fn: ast.AST) -> list[tuple[Context, ast.Call]]:
        """Call sites of `fn` (a function of `ctx`'s file) in the whole project, recursion excluded."""
        if not isinstance(fn, FUNC_TYPES):
            return []
        key = id(fn)
        if key in self._callers:
            return self._callers[key]
        home = self.ctx_of(fn) or ctx
        out: list[tuple[Context, ast.Call]] = []
        for c in home.calls(fn.name):
            if home.enclosing_function(c) is fn:
                continue
            out.append((home, c))
        if self.paths and not fn.name.startswith("__"):
            home_path = os.path.abspath(home.filename)
            stem = Path(home_path).stem if Path(home_path).name != "__init__.py" else Path(home_path).parent.name
            pkg_init = os.path.join(os.path.dirname(home_path), "__init__.py")
            # the package name counts only if its __init__ re-exports the function (`from pkg import evaluate`)
            package = Path(home_path).parent.name if fn.name in (self.text(pkg_init) or "") else ""
            scanned = 0
            for path in self._importers(stem, package):
                if path == home_path:
                    continue
                text = self.text(path)
                if not text or fn.name not in text:
                    continue  # cheap text filter: the file can neither name the function nor import its module
                scanned += 1
                if scanned > MAX_CALLER_FILES:
                    break
                other = self.context(path)
                if other is None:
                    continue
                names = {fn.name} | {local for local, q in other.imports.items() if q.rsplit(".", 1)[-1] == fn.name}
                for c in other.calls(*names):
                    t = self.resolve_call(other, c)
                    if t is not None and t.fn is fn:
                        out.append((other, c))
        self._callers[key] = out
        return out

    # ------------------------------------------------------------------ summaries
    def summary(self, fn: ast.AST, ctx: Context | None = None):
        """The `FunctionSummary` of `fn` (computed once; callees followed; recursion is cut)."""
        from .summaries import FunctionSummary, summarize

        key = id(fn)
        got = self._summaries.get(key)
        if got is not None:
            return got
        if key in self._in_progress:
            return FunctionSummary.empty(fn)
        home = ctx if ctx is not None and ctx.is_inside(fn, ctx.tree) else (self.ctx_of(fn) or ctx)
        if home is None:
            return FunctionSummary.empty(fn)
        self._in_progress.add(key)
        try:
            got = summarize(self, home, fn)  # type: ignore[arg-type]
        finally:
            self._in_progress.discard(key)
        self._summaries[key] = got
        return got

    def effects_at(self, ctx: Context, call: ast.Call):
        """The callee's summary seen from the call site: receivers renamed to the caller's arguments."""
        ctx = self.home(ctx, call)  # the call may come from another file of the project
        t = self.resolve_call(ctx, call)
        if t is None:
            return None
        return self.summary(t.fn, t.ctx).mapped(bind_arguments(t, call))


def bind_arguments(t: Target, call: ast.Call) -> dict[str, str]:
    """Callee parameter name -> caller's dotted argument text, for the arguments that are names/attributes."""
    fn = t.fn
    params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    out: dict[str, str] = {}
    if params and params[0] in {"self", "cls"}:
        if t.self_arg is not None:
            d = dotted(t.self_arg)
            if d:
                out[params[0]] = d
            params = params[1:]
        elif isinstance(call.func, ast.Attribute):
            params = params[1:]
    args = [*t.bound_args, *call.args]
    for name, arg in zip(params, args):
        if isinstance(arg, ast.Starred):
            out["=*"] = "1"  # arguments unknown from here on: no parameter default can be assumed
            break
        _bind(out, name, arg)
    if any(kw.arg is None for kw in call.keywords):
        out["=*"] = "1"  # `**kwargs` may pass any parameter
    kw_params = set(params) | {a.arg for a in fn.args.kwonlyargs}
    for kw in (*t.bound_kwargs, *call.keywords):
        if kw.arg and kw.arg in kw_params:
            _bind(out, kw.arg, kw.value)
    return out


def _bind(out: dict[str, str], name: str, arg: ast.expr) -> None:
    """`out[name]` = the argument's dotted text; `out["=" + name]` = 'True'/'False' for a bool literal."""
    d = dotted(arg)
    if d:
        out[name] = d
    elif isinstance(arg, ast.Constant) and isinstance(arg.value, bool):
        out["=" + name] = str(arg.value)
    elif isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.Not) and isinstance(arg.operand, ast.Constant) \
            and isinstance(arg.operand.value, bool):
        out["=" + name] = str(not arg.operand.value)


def _import_lines(text: str) -> str:
    """`_imports_module(text, name, "")` is `name in _import_lines(text)` for any name without a newline: the
    lines whose first 200 characters, indentation stripped, start with `from `/`import `."""
    if "import " not in text and "from " not in text:
        return ""
    keep = []
    for line in text.split("\n"):
        head = line[:200].lstrip()
        if head.startswith(("from ", "import ")):
            keep.append(line)
    return "\n".join(keep)


def _imports_module(text: str, stem: str, package: str) -> bool:
    """Could `text` import the module `stem` (or its package's re-export)? Looks only at the lines that
    mention the name: an `import`/`from` line."""
    for name in {stem, package}:
        if not name:
            continue
        start = 0
        while True:
            i = text.find(name, start)
            if i < 0:
                break
            line_start = text.rfind("\n", 0, i) + 1
            head = text[line_start : line_start + 200].lstrip()
            if head.startswith(("from ", "import ")):
                return True
            start = i + len(name)
    return False


def project_of(ctx: Context) -> Project:
    proj = getattr(ctx, "_project", None)
    if proj is None:
        proj = Project.single(ctx)
    return proj


def _bindings(ctx: Context) -> dict:
    from .scopes import name_bindings

    return name_bindings(ctx)


def _top_level(ctx: Context, name: str):
    for stmt in ctx.tree.body:
        if isinstance(stmt, (*FUNC_TYPES, ast.ClassDef)) and stmt.name == name:
            return stmt
    return None


def _visible_def(ctx: Context, name: str, at: ast.AST):
    """The `def name` a bare call at `at` sees: a nested def in an enclosing function, else module level."""
    fns = ctx.functions_by_name.get(name)
    if not fns:
        return None
    scopes = [a for a in ctx.ancestors(at) if isinstance(a, FUNC_TYPES)]
    for scope in scopes:
        for f in fns:
            if Context.parent(f) is scope or _in_block_of(f, scope):
                return f
    for f in fns:
        if isinstance(Context.parent(f), ast.Module) or _in_block_of(f, ctx.tree):
            return f
    return None


def _in_block_of(node: ast.AST, scope: ast.AST) -> bool:
    """Is `node` defined directly in `scope` (possibly inside if/try/with blocks, not in another def/class)?"""
    for anc in Context.ancestors(node):
        if anc is scope:
            return True
        if isinstance(anc, (*FUNC_TYPES, ast.ClassDef, ast.Lambda)):
            return False
    return False
