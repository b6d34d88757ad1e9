"""Integrity of a submission: code that reaches for the harness instead of doing the task.

Two layers, both reporting `integrity` (the submission scores 0):

* `scan_folder` / `scan_source` (static, `ast`, in the trusted parent before anything runs): stack frames and
  introspection (`sys._getframe`, `inspect`, `gc`, `f_back`, `f_locals`, `__closure__`, `__globals__`, `tb_frame`,
  `gi_frame`, ...), `ctypes`, `sys.modules`, audit/trace hooks, torch internals (`torch._C`), the harness's own
  modules (`evals`, `reference_impls`), dynamic code (`exec`, `eval`, `compile`, `__import__`, `importlib`),
  raw file-descriptor writes (`os.write`, `os.dup2`, `os.fdopen`, ...) that could forge the harness's pipes, and
  `/proc` paths.
* `install_audit_hook` (at run time, inside the sandboxed child, before the submission's first line): CPython
  audit events raised on behalf of the submission's own files (the first caller outside the standard library is
  the submission) for the same families, so `getattr(sys, "_get" + "frame")` is caught as well. The hook reports
  each violation at once (to the parent, over a pipe) and makes the call fail.

What remains possible is in docs/threat-model.md: a submission can still do anything pure Python allows without
one of these constructs (e.g. it shares the process with the probe's hooks), so every check that raises a score
also rests on evidence computed outside the submission's process where that matters.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Callable
from pathlib import Path

MAX_SCAN_BYTES = 2_000_000

BANNED_MODULES = {
    "ctypes": "ctypes (raw memory access)", "_ctypes": "ctypes (raw memory access)", "gc": "gc (object graph walking)",
    "inspect": "inspect (stack frames)", "evals": "the harness's own modules", "reference_impls": "the harness's own modules",
    "importlib": "dynamic imports (importlib)", "_thread": "low-level threads", "marshal": "marshal (code objects)",
    "types": None, "traceback": None,  # fine to import; their frame attributes are caught below
    "pytorch_patterns": "the harness's own modules", "server": "the harness's own modules", "mmap": None,
    "fcntl": "file-descriptor control (fcntl)", "pty": "pseudo-terminals", "sitecustomize": "sitecustomize",
    "usercustomize": "usercustomize", "signal": None, "resource": None, "faulthandler": None, "atexit": None,
}
BANNED_NAMES = {"exec": "exec()", "eval": "eval()", "compile": "compile()", "__import__": "__import__()",
                "globals": None, "vars": None, "breakpoint": "breakpoint()", "__builtins__": "__builtins__"}
BANNED_ATTRS = {
    "_getframe": "sys._getframe", "_current_frames": "sys._current_frames", "f_back": "frame.f_back",
    "f_locals": "frame.f_locals", "f_globals": "frame.f_globals", "f_code": "frame.f_code", "tb_frame": "traceback frames",
    "tb_next": "traceback frames", "gi_frame": "generator frames", "cr_frame": "coroutine frames", "ag_frame": "frames",
    "__closure__": "closures", "cell_contents": "closure cells", "__globals__": "function globals",
    "__code__": "code objects", "__subclasses__": "__subclasses__()", "__builtins__": "__builtins__",
    "__reduce_ex__": None, "addaudithook": "audit hooks", "settrace": "trace hooks", "setprofile": "profile hooks",
    "modules": None,  # sys.modules: checked with its owner below
    "_C": None,  # torch._C: checked with its owner below
    "write": None, "dup": None, "dup2": None, "fdopen": None, "writev": None, "pwrite": None, "close": None,
    "closerange": None, "_exit": None, "fromfd": None, "sendfile": None, "kill": None, "killpg": None,
}
OS_FD_CALLS = {"write", "writev", "pwrite", "dup", "dup2", "fdopen", "close", "closerange", "_exit", "sendfile",
               "kill", "killpg", "open", "openpty", "forkpty", "set_inheritable", "memfd_create", "ptrace"}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def scan_source(text: str, filename: str = "<submission>") -> list[str]:
    """Integrity problems in one file's source ("file:line what"); a file that does not parse is not flagged
    here (running it fails on its own)."""
    try:
        tree = ast.parse(text, filename=filename)
    except (SyntaxError, ValueError):
        return []
    name = Path(filename).name
    problems: list[str] = []
    aliases: dict[str, str] = {}  # local name -> module it names (import os as o)

    def flag(node: ast.AST, what: str) -> None:
        problems.append(f"{name}:{getattr(node, 'lineno', 0)} {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                aliases[(alias.asname or alias.name).split(".")[0]] = alias.name if alias.asname else top
                if BANNED_MODULES.get(top):
                    flag(node, f"imports {alias.name}: {BANNED_MODULES[top]}")
                if alias.name.startswith("torch._C") or alias.name.startswith("torch._dynamo"):
                    flag(node, f"imports {alias.name}: torch internals")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            top = mod.split(".")[0]
            if node.level == 0 and BANNED_MODULES.get(top):
                flag(node, f"imports from {mod}: {BANNED_MODULES[top]}")
            if mod.startswith("torch._C") or (mod == "torch" and any(a.name == "_C" for a in node.names)):
                flag(node, "imports torch._C: torch internals")
            for alias in node.names:
                if mod in ("sys", "os") and alias.name in ("_getframe", "modules", "settrace", "setprofile", "addaudithook",
                                                           *OS_FD_CALLS):
                    flag(node, f"imports {mod}.{alias.name}")
                if mod == "builtins":
                    flag(node, "imports from builtins")
                aliases[alias.asname or alias.name] = f"{mod}.{alias.name}"
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                dotted = _dotted(target) if isinstance(target, ast.Attribute) else None
                root = aliases.get(dotted.split(".")[0], "") if dotted else ""
                full = root + dotted[len(dotted.split(".")[0]):] if dotted else ""
                if full.startswith("torch") and not full.startswith("torch.backends."):
                    flag(node, f"patches {full}: the harness's hooks live in torch")
        elif isinstance(node, ast.Name):
            what = BANNED_NAMES.get(node.id)
            if what:
                flag(node, f"uses {what}: dynamic code")
        elif isinstance(node, ast.Attribute):
            owner = _dotted(node.value)
            owner_mod = aliases.get(owner.split(".")[0], owner.split(".")[0]) if owner else None
            full = f"{owner_mod}{owner[len(owner.split('.')[0]):]}" if owner else None
            what = BANNED_ATTRS.get(node.attr)
            if what:
                flag(node, f"uses {what}")
            elif node.attr == "modules" and full == "sys":
                flag(node, "uses sys.modules")
            elif node.attr == "_C" and full and full.split(".")[0] == "torch":
                flag(node, "uses torch._C: torch internals")
            elif node.attr in OS_FD_CALLS and full in ("os", "posix", "socket", "signal"):
                flag(node, f"calls {full}.{node.attr}: raw file descriptors / processes")
            elif node.attr in ("__dict__", "__getattribute__") and full in ("sys", "os", "builtins", "torch", "probe"):
                flag(node, f"uses {full}.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if value.startswith(("/proc/", "/dev/fd", "/dev/mem")) or "_getframe" in value or value in ("f_back", "f_locals", "__closure__", "__globals__", "cell_contents"):
                flag(node, f"names {value[:40]!r}")
        elif isinstance(node, ast.Call) and (_dotted(node.func) or "").split(".")[-1] in ("attrgetter", "methodcaller") and not all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and not a.value.startswith("_") for a in node.args):
            flag(node, "attrgetter()/methodcaller() with a computed or private name")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "delattr", "hasattr"):
            target = _dotted(node.args[0]) if node.args else None
            top = aliases.get(target.split(".")[0], target.split(".")[0]) if target else None
            key = node.args[1] if len(node.args) > 1 else None
            if node.func.id in ("setattr", "delattr") and top and top.startswith("torch"):
                flag(node, f"{node.func.id}() on {target}: patches torch")
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                if BANNED_ATTRS.get(key.value) or key.value == "_C" or (key.value == "modules" and top == "sys") or (
                        key.value in OS_FD_CALLS and top in ("os", "posix")):
                    flag(node, f"{node.func.id}(..., {key.value!r})")
            elif top in ("sys", "os", "builtins", "gc", "inspect", "posix", "ctypes"):
                flag(node, f"{node.func.id}() on {target} with a computed name")
    return problems


def scan_folder(folder: Path) -> list[str]:
    """Integrity problems in every .py file under `folder` (symlinks not followed)."""
    problems: list[str] = []
    for path in sorted(Path(folder).rglob("*.py")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_SCAN_BYTES:
                problems.append(f"{path.name}: over {MAX_SCAN_BYTES} bytes")
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        rel = path.relative_to(folder).as_posix()
        problems += [rel + p[len(path.name):] for p in scan_source(text, str(path))]
    return problems


# ------------------------------------------------------------------ runtime (inside the sandboxed child)
ALWAYS = frozenset({"sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                    "function.__new__", "code.__new__", "sys.settrace", "sys.setprofile", "sys.addaudithook",
                    "cpython._PySys_ClearAuditHooks", "object.__getattr__", "object.__setattr__", "object.__delattr__"})
DIRECT = frozenset({"exec", "compile"})
WATCHED = ALWAYS | DIRECT | frozenset({"import", "open", "os.listdir", "os.scandir", "ctypes.dlopen", "ctypes.dlsym",
                                       "ctypes.addressof", "ctypes.string_at", "ctypes.cdata", "ctypes.call_function"})
BANNED_IMPORTS = ("ctypes", "_ctypes", "gc", "inspect", "evals", "reference_impls", "importlib", "marshal", "pytorch_patterns")


def _stdlib_roots() -> tuple[str, ...]:
    """The standard library's folder (where `os` lives; a venv's platstdlib would also cover site-packages)."""
    return tuple({os.path.dirname(os.__file__) + os.sep, os.path.dirname(os.path.realpath(os.__file__)) + os.sep})


def install_audit_hook(submission_roots: list[str], report: Callable[[str], None]) -> None:
    """Audit events raised on behalf of code under `submission_roots` that reach for frames, the object graph,
    ctypes, dynamic code, harness modules or /proc are reported (once each kind) and refused (RuntimeError)."""
    roots = tuple(os.path.realpath(r).rstrip(os.sep) + os.sep for r in submission_roots)
    stdlib = _stdlib_roots()
    getframe = sys._getframe
    busy = [False]
    seen: set[str] = set()

    def culprit(direct: bool) -> str | None:
        frame = getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(roots):
                return filename
            in_stdlib = filename.startswith(stdlib) and "-packages" not in filename
            if direct or not (in_stdlib or filename.startswith("<frozen")):
                return None
            frame = frame.f_back
        return None

    def hook(event: str, args: tuple) -> None:
        if busy[0] or event not in WATCHED:
            return
        if event == "import":
            if not str(args[0]).startswith(BANNED_IMPORTS):
                return
        elif event == "open":
            path = args[0]
            if not (isinstance(path, int) or str(path).startswith(("/proc/", "/dev/fd"))):
                return
            if getframe(1).f_code.co_filename.startswith("<frozen importlib"):
                return  # the import system writing a .pyc through a descriptor it just opened
        elif event in ("os.listdir", "os.scandir"):
            if not str(args[0] if args else "").startswith(("/proc/", "/dev/fd")):
                return
        elif event == "object.__getattr__" or event == "object.__setattr__" or event == "object.__delattr__":
            pass
        busy[0] = True
        try:
            who = culprit(event in DIRECT)
        finally:
            busy[0] = False
        if who is None:
            return
        what = f"{event} {str(args[:2])[:80]} from {os.path.basename(who)}"
        if event not in seen:
            seen.add(event)
            report(what)
        raise RuntimeError(f"integrity: {event} is not allowed in a submission")

    sys.dont_write_bytecode = True  # the submission's imports leave no .pyc behind
    sys.addaudithook(hook)
