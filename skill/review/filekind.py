"""What kind of file or class this is: torch code, another framework, a unit test, a framework class, a runnable script.
"""

from __future__ import annotations

import ast
import re

from .analysis import Context, dotted
from .torch_tables import (
    FRAMEWORK_BASE_RE,
    OTHER_FRAMEWORK_RE,
    TEST_CLASS_RE,
    TEST_FILE_RE,
    TORCH_ECOSYSTEM_RE,
)
from .scopes import (
    _cache,
    is_main_guard,
)
from .gradmode import (
    backward_calls,
)

def is_runnable_training_script(ctx: Context) -> bool:
    """A file that trains when run: it calls backward() and has a `__main__` guard or a module-level
    loop that calls backward() (library modules and inference scripts are not)."""
    backs = backward_calls(ctx)
    if not backs:
        return False
    if any(is_main_guard(n) for n in ctx.tree.body):
        return True
    for call in backs:
        if ctx.enclosing_scope(call) is ctx.tree and ctx.loops_around(call):
            return True
    return False


def class_is_framework(ctx: Context, cls: ast.ClassDef | None) -> bool:
    """Lightning modules, HF/other Trainer subclasses: the framework sets train/eval and grad mode."""
    if cls is None:
        return False
    return any(FRAMEWORK_BASE_RE.search(dotted(b) or "") for b in cls.bases)


def is_test_function(ctx: Context, fn: ast.AST | None) -> bool:
    """A unit test (pytest/unittest) rather than model testing: `test_*` in a test file or a TestCase."""
    if fn is None or not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for anc in ctx.ancestors(fn):
        if isinstance(anc, ast.ClassDef) and (TEST_CLASS_RE.search(anc.name) or any("TestCase" in (dotted(b) or "") for b in anc.bases)):
            return True  # any method of a unit-test class (helpers such as `_test_sync` included)
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and anc.name.startswith(("test_", "_test")):
            fn = anc
    if not fn.name.startswith(("test_", "_test")):
        return False
    if TEST_FILE_RE.search(ctx.filename) or re.search(r"(^|[\\/])(tests?|testing)[\\/]", ctx.filename):
        return True
    cls = ctx.enclosing_class(fn)
    return cls is not None and (bool(TEST_CLASS_RE.search(cls.name)) or any("TestCase" in (dotted(b) or "") for b in cls.bases))


def is_torch_code(ctx: Context) -> bool:
    """Does the file use PyTorch (or is it an import-less snippet)? Other code has other `model`s."""
    def make() -> bool:
        if not ctx.imports:
            return True
        return any(TORCH_ECOSYSTEM_RE.match(q) for q in ctx.imports.values()) or any(
            TORCH_ECOSYSTEM_RE.match(q.lstrip(".")) for q in ctx.imports.values()
        ) or any(imp.level for imp in ctx.nodes(ast.ImportFrom))  # type: ignore[union-attr]

    return _cache(ctx, "is_torch_code", make)


def is_other_framework_file(ctx: Context) -> bool:
    """A file that imports another DL framework and not torch (Keras `model(x)` is not a torch module)."""
    return not ctx.imports_torch and any(OTHER_FRAMEWORK_RE.match(q) for q in ctx.imports.values())


def is_module_like_class(ctx: Context, cls: ast.ClassDef | None) -> bool:
    """An nn.Module subclass as far as this file shows, or a class with a forward() (base imported)."""
    if cls is None:
        return False
    return ctx.is_module_class(cls) or any(
        isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == "forward" for f in cls.body
    )
