"""The parsed-module context every rule works on.

One pass over the tree links every node to its parent and buckets nodes by type and calls by callee
name, so that each rule looks only at the few nodes it cares about instead of walking the tree again.
Nothing here recurses on the tree (deeply nested input must not blow the stack), nothing imports or
runs the code under review, and nothing imports torch.
"""

from __future__ import annotations

import ast
import operator
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cached_property

PARENT = "_pp_parent"

FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
SCOPE_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)
LOOP_TYPES = (ast.For, ast.AsyncFor, ast.While)

# Well-known aliases, used when a name is used without an import in sight (snippets, notebooks).
DEFAULT_ALIASES = {
    "torch": "torch",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "optim": "torch.optim",
    "np": "numpy",
    "numpy": "numpy",
    "random": "random",
}


DEFAULT_TARGET_TORCH = "2.6"


def parse_version(text: str) -> tuple[int, int]:
    """'2.6' / '2.6.1' / '2' -> (2, 6) / (2, 6) / (2, 0); garbage -> the default."""
    parts = str(text).strip().split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        return parse_version(DEFAULT_TARGET_TORCH) if text != DEFAULT_TARGET_TORCH else (2, 6)
    return major, minor


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None. Iterative (chains may be very long)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def callee_name(call: ast.Call) -> str | None:
    """Last component of the callee: `opt.zero_grad()` -> 'zero_grad', `DataLoader()` -> 'DataLoader'."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def receiver(call: ast.Call) -> ast.expr | None:
    """`a.b.m()` -> the node for `a.b`; None for plain function calls."""
    return call.func.value if isinstance(call.func, ast.Attribute) else None


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw
    return None


def kwarg_value(call: ast.Call, name: str) -> ast.expr | None:
    kw = keyword(call, name)
    return kw.value if kw is not None else None


def has_star_kwargs(call: ast.Call) -> bool:
    """True if the call passes `**kwargs` (its keywords are then unknown)."""
    return any(kw.arg is None for kw in call.keywords) or any(
        isinstance(a, ast.Starred) for a in call.args
    )


def const_value(node: ast.AST | None, default: object = ...) -> object:
    """The Python value of a literal constant node (True, 0, 'cuda'...), else `default`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        v = node.operand.value
        if isinstance(v, (int, float)):
            return -v
    return default


def is_true(node: ast.AST | None) -> bool:
    return const_value(node) is True


def target_names(target: ast.AST) -> list[str]:
    """Names bound by an assignment/for target (`x`, `(x, y)`, `[a, (b, c)]`, `*rest`)."""
    out: list[str] = []
    stack = [target]
    while stack:
        t = stack.pop()
        if isinstance(t, ast.Name):
            out.append(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            stack.extend(reversed(t.elts))
        elif isinstance(t, ast.Starred):
            stack.append(t.value)
    return out


def names_in(node: ast.AST) -> set[str]:
    """Every Name id read or written anywhere under `node`."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class Context:
    """A parsed module plus the indices rules query."""

    def __init__(self, source: str, tree: ast.Module, filename: str = "<string>") -> None:
        self.source = source
        self.tree = tree
        self.filename = filename
        # Split exactly like the tokenizer (\r\n, \r, \n), not str.splitlines (which also splits on \f,
        # \x1c, \u2028...), so that self.lines[lineno - 1] is the line ast's positions refer to.
        self.lines = _LINE_SPLIT.split(source)
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.by_type: dict[type, list[ast.AST]] = defaultdict(list)
        self.calls_by_name: dict[str, list[ast.Call]] = defaultdict(list)
        self.functions_by_name: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = defaultdict(list)
        self.classes_by_name: dict[str, ast.ClassDef] = {}
        self.imports: dict[str, str] = {}  # local name -> qualified name
        self._project = None  # set by skill.review.project.Project.register
        self._index()

    @property
    def project(self):
        """The `skill.review.project.Project` this file is reviewed in (a one-file project if alone)."""
        if self._project is None:
            from .project import Project

            Project.single(self)
        return self._project

    @property
    def target_torch(self) -> tuple[int, int]:
        """The oldest torch version the reviewed code must support (config `target-torch`, default 2.6)."""
        return parse_version(getattr(self._project, "target_torch", None) or DEFAULT_TARGET_TORCH)

    # ------------------------------------------------------------------ indexing
    def _index(self) -> None:
        by_type = self.by_type
        calls_by_name = self.calls_by_name
        # Pre-order walk with children pushed in reverse: nodes come out (almost) in source order, so
        # the sort below is nearly free. Operator and context nodes are shared singletons in CPython's
        # AST: they get no parent link and no bucket.
        stack: list[ast.AST] = [self.tree]
        setattr(self.tree, PARENT, None)
        pop, push, AST, singletons = stack.pop, stack.append, ast.AST, _SINGLETONS
        child_fields = _CHILD_FIELDS
        while stack:
            node = pop()
            by_type[type(node)].append(node)
            fields = child_fields.get(type(node))
            if fields is None:
                # reversed: children are pushed last-first so that they pop in field (source) order
                fields = child_fields[type(node)] = tuple(reversed([f for f in node._fields if f not in _SCALAR_FIELDS]))
            for name in fields:
                value = getattr(node, name, None)
                if value.__class__ is list:
                    for child in reversed(value):
                        if isinstance(child, AST) and not isinstance(child, singletons):
                            setattr(child, PARENT, node)
                            push(child)
                elif isinstance(value, AST) and not isinstance(value, singletons):
                    setattr(value, PARENT, node)
                    push(value)
        # decorators and a few other fields come after the body in _fields order: source order is restored
        # when a type's list is first asked for (`nodes`); most types (Name, Constant...) never are
        self._unsorted = {t for t in by_type if "lineno" in t._attributes}
        self._sorted_bucket(ast.Call)
        for call in by_type.get(ast.Call, ()):
            name = callee_name(call)  # type: ignore[arg-type]
            if name:
                calls_by_name[name].append(call)  # type: ignore[arg-type]
        for fn in self.nodes(ast.FunctionDef, ast.AsyncFunctionDef):
            self.functions_by_name[fn.name].append(fn)  # type: ignore[union-attr]
        for cls in self.nodes(ast.ClassDef):
            self.classes_by_name.setdefault(cls.name, cls)  # type: ignore[union-attr]
        for imp in self.nodes(ast.Import):
            for alias in imp.names:  # type: ignore[union-attr]
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    self.imports[head] = head
        for imp in self.nodes(ast.ImportFrom):
            mod = imp.module or ""  # type: ignore[union-attr]
            if imp.level:  # type: ignore[union-attr]
                mod = "." * imp.level + mod  # type: ignore[union-attr]
            for alias in imp.names:  # type: ignore[union-attr]
                if alias.name == "*":
                    continue
                self.imports[alias.asname or alias.name] = f"{mod}.{alias.name}" if mod else alias.name

    def _sorted_bucket(self, t: type) -> list[ast.AST] | None:
        nodes = self.by_type.get(t)
        if t in self._unsorted:
            self._unsorted.discard(t)
            nodes.sort(key=_POS)  # type: ignore[union-attr]
        return nodes

    def nodes(self, *types: type) -> list[ast.AST]:
        """All nodes of the given types, in source order."""
        if len(types) == 1:
            got = self._sorted_bucket(types[0])
            return got if got is not None else []
        out: list[ast.AST] = []
        for t in types:
            out.extend(self._sorted_bucket(t) or ())
        out.sort(key=_pos)
        return out

    def calls(self, *names: str) -> list[ast.Call]:
        """Calls whose callee's last name component is one of `names`, in source order."""
        if len(names) == 1:
            return self.calls_by_name.get(names[0], [])
        out: list[ast.Call] = []
        for n in names:
            out.extend(self.calls_by_name.get(n, ()))
        out.sort(key=_pos)
        return out

    # ------------------------------------------------------------------ names
    def qualname(self, node: ast.AST) -> str | None:
        """Fully qualified dotted name with import aliases resolved.

        `F.relu` -> 'torch.nn.functional.relu' after `import torch.nn.functional as F`;
        `DataLoader` -> 'torch.utils.data.DataLoader' after `from torch.utils.data import DataLoader`.
        Unknown heads are kept as written (`model.to` stays 'model.to').
        """
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        resolved = self.imports.get(head)
        if resolved is None:
            if head in self.assigned_names:
                return name
            resolved = DEFAULT_ALIASES.get(head, head)
        return f"{resolved}.{rest}" if rest else resolved

    def call_qualname(self, call: ast.Call) -> str | None:
        return self.qualname(call.func)

    @cached_property
    def assigned_names(self) -> set[str]:
        """Names bound anywhere in the module other than by import (to avoid aliasing `F = 3`)."""
        out: set[str] = set()
        for n in self.by_type.get(ast.Name, ()):
            if isinstance(n.ctx, ast.Store):  # type: ignore[union-attr]
                out.add(n.id)  # type: ignore[union-attr]
        for fn in self.nodes(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            out.add(fn.name)  # type: ignore[union-attr]
        for a in self.by_type.get(ast.arg, ()):
            out.add(a.arg)  # type: ignore[union-attr]
        return out

    @cached_property
    def imports_torch(self) -> bool:
        return any(q == "torch" or q.startswith("torch.") for q in self.imports.values())

    @cached_property
    def first_torch_import(self) -> ast.stmt | None:
        for imp in self.nodes(ast.Import, ast.ImportFrom):
            if isinstance(imp, ast.Import) and any(
                a.name == "torch" or a.name.startswith("torch.") for a in imp.names
            ):
                return imp
            if isinstance(imp, ast.ImportFrom) and imp.module and (
                imp.module == "torch" or imp.module.startswith("torch.")
            ) and not imp.level:
                return imp
        return None

    # ------------------------------------------------------------------ tree navigation
    @staticmethod
    def parent(node: ast.AST) -> ast.AST | None:
        return getattr(node, PARENT, None)

    @staticmethod
    def ancestors(node: ast.AST) -> Iterator[ast.AST]:
        node = getattr(node, PARENT, None)
        while node is not None:
            yield node
            node = getattr(node, PARENT, None)

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        """The innermost statement containing `node` (itself if it is one)."""
        cur: ast.AST | None = node
        while cur is not None and not isinstance(cur, ast.stmt):
            cur = self.parent(cur)
        return cur  # type: ignore[return-value]

    def enclosing_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for anc in self.ancestors(node):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return anc
            if isinstance(anc, ast.ClassDef):
                return None
        return None

    def enclosing_scope(self, node: ast.AST) -> ast.AST:
        """Innermost function, lambda, class or the module."""
        for anc in self.ancestors(node):
            if isinstance(anc, SCOPE_TYPES):
                return anc
        return self.tree

    def enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        for anc in self.ancestors(node):
            if isinstance(anc, ast.ClassDef):
                return anc
        return None

    def loops_around(self, node: ast.AST) -> list[ast.For | ast.AsyncFor | ast.While]:
        """Loops enclosing `node` inside its own function (innermost first).

        A node in a loop's `iter` or `orelse` is not inside the loop body and is not counted.
        """
        out = []
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                break
            if isinstance(anc, LOOP_TYPES) and _in_body(anc, child):
                out.append(anc)
            child = anc
        return out

    def withs_around(self, node: ast.AST) -> list[ast.With | ast.AsyncWith]:
        """`with` statements whose body encloses `node`, inside its own function (innermost first)."""
        out = []
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                break
            if isinstance(anc, (ast.With, ast.AsyncWith)) and child in anc.body:
                out.append(anc)
            child = anc
        return out

    def is_inside(self, node: ast.AST, container: ast.AST) -> bool:
        return any(anc is container for anc in self.ancestors(node))

    # ------------------------------------------------------------------ classes
    def is_module_class(self, cls: ast.ClassDef) -> bool:
        """Does this class (transitively, within the file) subclass torch.nn.Module?"""
        return self._module_classes().get(cls.name, False)

    @cached_property
    def module_class_names(self) -> set[str]:
        return {name for name, yes in self._module_classes().items() if yes}

    def _module_classes(self) -> dict[str, bool]:
        cache = self.__dict__.get("_module_cls_cache")
        if cache is not None:
            return cache
        result: dict[str, bool] = {}
        pending = {c.name: c for c in self.nodes(ast.ClassDef)}  # type: ignore[union-attr]
        changed = True
        while changed:
            changed = False
            for name, cls in pending.items():
                if result.get(name):
                    continue
                for base in cls.bases:
                    q = self.qualname(base) or ""
                    last = q.rsplit(".", 1)[-1]
                    if (
                        q.startswith("torch.nn.")
                        or q in {"nn.Module", "Module"}
                        or last in MODULE_BASE_NAMES
                        or result.get(last)
                    ):
                        result[name] = True
                        changed = True
                        break
        for name in pending:
            result.setdefault(name, False)
        self.__dict__["_module_cls_cache"] = result
        return result

    # ------------------------------------------------------------------ text
    def segment(self, node: ast.AST) -> str:
        """Source text of `node` (like ast.get_source_segment, without re-splitting the file each call)."""
        try:
            start, end = node.lineno, node.end_lineno  # type: ignore[attr-defined]
            col, end_col = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        except AttributeError:
            return ""
        if end is None or end_col is None or not 0 < start <= end <= len(self.lines):
            return ""
        if start == end:
            return _byte_slice(self.lines[start - 1], col, end_col)
        first = _byte_slice(self.lines[start - 1], col, None)
        middle = self.lines[start : end - 1]
        last = _byte_slice(self.lines[end - 1], 0, end_col)
        return "\n".join([first, *middle, last])

    def line_text(self, lineno: int) -> str:
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""


# Bases that make a class an nn.Module even when imported from elsewhere.
MODULE_BASE_NAMES = {
    "Module",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "LightningModule",
    "PreTrainedModel",
}


_SINGLETONS = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
_POS = operator.attrgetter("lineno", "col_offset")
_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
# Fields that never hold a child node in any node type (names, flags, constants; `ctx`/`op`/`ops` hold
# the shared singletons): the index does not look at them.
_SCALAR_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "arg", "name", "module", "level", "kind", "conversion",
    "type_comment", "is_async", "simple", "tag",
})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _byte_slice(line: str, start: int, end: int | None) -> str:
    """Slice a line by UTF-8 byte offsets (what ast positions are)."""
    if line.isascii():
        return line[start:end]
    return line.encode("utf-8")[start:end].decode("utf-8", errors="replace")


def _pos(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _in_body(loop: ast.AST, child: ast.AST) -> bool:
    return child in loop.body  # type: ignore[attr-defined]
